"""The fuzzer's ``recipe`` kind: mutated ``mnist_synthetic`` recipes (YAML and JSON).

Wrong types per key, huge numbers, mixed key types, new keys, alias bombs, deep nesting and token
splices. Oracle: a clear error naming the file, or a dataset whose items render (the first items of every
subset, each a 2-D image with a label among the categories), in memory bounded like the other seeds.
"""

from __future__ import annotations

import itertools
import json
import os
import os.path as osp
import random
import tracemalloc
from typing import Dict, List, Optional, Tuple

import numpy as np

from fuzz_oracle import OUTCOMES, Context, Crash, Hang, describe, signature, unclear

#: Allocation peaks of unmutated inputs, per name (measured once, by the kinds that trace).
PEAKS: Dict[str, int] = {}

BASE_RECIPES = (
    {"seed": 3, "subsets": {"train": 12, "test": 5}},
    {"seed": 1, "subsets": {"train": {"count": 30, "keep_classes": [3, 8]}, "test": {"count": 20, "indices": "0-4,7"}},
     "classes": [3, 8, 1], "proportions": [1, 2, 1], "label_names": ["three", "eight", "one"],
     "style": {"image_size": 28, "stroke_width": [1.6, 3.2], "slant": [-10, 10], "noise": 0.1}},
    {"seed": 0, "subsets": {"a": {"count": 9, "proportions": [1, 0, 0, 0, 0, 0, 0, 0, 0, 5]}}},
)
HOSTILE_VALUES = (
    0, -1, 1, 2**31, 2**63, 10**30, 10**9, 1e308, -1e308, float("nan"), float("inf"), 0.5, True, None, "", "x",
    "0-99999999999", "5-1", "1,,2", [], {}, [[1]], [1e308, 1], [-5, 5], [5, -5], {"count": 10**12},
    {"count": 10**6, "indices": "0-999999"}, {"count": 3, "keep_classes": list(range(50))}, "ü",
    list(range(2000)), {"1": 2, 3: 4}, [None], [True, False],
)
#: Values a recipe may well hold: most mutations should still import, to reach the drawing.
PLAUSIBLE_VALUES = (0, 1, 2, 5, 9, 28, 64, 0.0, 0.3, 1.5, [1, 2], [0.5, 1.5], [-5, 5], [3, 8], "0-3", "1,4",
                    {"count": 4}, {"count": 6, "keep_classes": [1]}, [1, 1, 1], "train", 8, 100, [8, 8])
YAML_TOKENS = (b"&a ", b"*a", b"<<: *a\n", b"!!python/object:os.system ", b"!!binary ", b"- ", b": ", b"? ",
               b"\t", b"{", b"}", b"[", b"]", b",", b"\n", b"  ", b"#", b"'", b'"', b"|\n", b">\n", b"%YAML 1.1\n",
               b"---\n", b"...\n", b"1e999", b".nan", b"-.inf", b"0x7fffffffffffffff", b"~", b"\xef\xbb\xbf", b"\x00")


def _paths(value, prefix=()) -> List[tuple]:
    """Every key path in a recipe's data (mappings and lists)."""
    paths = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        paths.extend(_paths(child, prefix + (key,)))
    return paths


def _get(data, path: tuple):
    for key in path:
        data = data[key]
    return data


def _set(data, path: tuple, value):
    if not path:
        return value
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _nested(depth: int, yaml_text: bool) -> str:
    return "seed: " + "[" * depth + "]" * depth if yaml_text else '{"seed": ' + "[" * depth + "]" * depth + "}"


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nsubsets: {{train: 3}}\nclasses: *a{levels - 1}\n"


def _recipe_text(rng: random.Random) -> Tuple[bytes, str]:
    """A mutated recipe's bytes and its file name."""
    import copy

    import yaml

    data = copy.deepcopy(rng.choice(BASE_RECIPES))
    roll, suffix = rng.random(), rng.choice((".yaml", ".yml", ".json"))
    if roll < 0.08:
        return _alias_bomb(rng.randint(2, 9)).encode(), ".yaml"
    if roll < 0.14:
        return _nested(rng.choice((50, 70, 1000, 100_000)), suffix != ".json").encode(), suffix
    for _ in range(rng.choice((1, 1, 2, 3))):  # wrong types, huge numbers, mixed key types, per key
        path = rng.choice(_paths(data))
        if isinstance(_get(data, path), dict) and rng.random() < 0.3:  # a new key, of any type
            path = path + (rng.choice(("seed", "count", "style", 1, 2.5, None, True, "colour", "")),)
        try:
            value = rng.choice(rng.choice((HOSTILE_VALUES, PLAUSIBLE_VALUES, PLAUSIBLE_VALUES)))
            data = _set(data, path, copy.deepcopy(value))  # a copy: the tables must never change
        except (TypeError, IndexError, KeyError):
            pass
    if suffix == ".json":
        text = json.dumps(data, default=str).encode()  # NaN, Infinity written as JSON5-ish tokens
    else:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    if rng.random() < 0.25:  # token splices
        text = bytearray(text)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(text) + 1)
            text[pos:pos] = rng.choice(YAML_TOKENS)
        text = bytes(text)
    return text, suffix


def _sample_items(extractor, per_subset: int = 25) -> int:
    """Render the first items of every subset; check each is a 2-D image and its label a category."""
    labels = len(extractor.categories()[next(iter(extractor.categories()))])
    count = 0
    for name in list(extractor.subsets())[:8]:
        for item in itertools.islice(extractor.get_subset(name), per_subset):
            image = np.asarray(item.media.data)
            if image.ndim != 2 or not image.size:
                raise AssertionError(f"item {item.id} of {name!r}: image of shape {image.shape}")
            if any(not 0 <= a.label < labels for a in item.annotations):
                raise AssertionError(f"item {item.id} of {name!r}: label outside the {labels} categories")
            count += 1
    return count


def _check_recipe(path: str, folder: str) -> Optional[Crash]:
    from datumaro.components.dataset import StreamDataset
    from datumaro.components.environment import Environment

    try:
        StreamDataset.import_from(path, "mnist_synthetic")
        extractor = Environment().extractors.get("mnist_synthetic")(
            osp.join(path, "recipe.yaml") if osp.isdir(path) else path)
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001
        return unclear(e, folder, "recipe-import")
    try:
        _sample_items(extractor)
    except Hang:
        raise
    except Exception as e:  # noqa: BLE001 - a recipe that imports makes items that render
        return Crash(signature(e, "recipe-render"), describe(e))
    OUTCOMES["recipe: imported, items render"] += 1
    return None


def run_recipe(rng: random.Random, ctx: Context) -> Optional[Crash]:
    """A mutated YAML/JSON recipe: a clear error, or a dataset whose items render, in bounded memory."""
    from datumaro_mnist_plugins.synthetic.parallel import WORKERS_ENV

    os.environ.setdefault(WORKERS_ENV, "1")  # one fuzz process on a shared machine
    text, suffix = _recipe_text(rng)
    folder = osp.join(ctx.workdir, "case")
    as_folder = suffix == ".yaml" and rng.random() < 0.3
    ctx.write_folder(folder, {("recipe.yaml" if as_folder else "recipe" + suffix): text})
    path = folder if as_folder else osp.join(folder, "recipe" + suffix)
    if not ctx.traced:
        return _check_recipe(path, folder)
    if "recipe" not in PEAKS:  # the unmutated recipe's peak, once
        ctx.write_folder(osp.join(ctx.workdir, "base"), {"recipe.yaml": json.dumps(BASE_RECIPES[1]).encode()})
        tracemalloc.start()
        _check_recipe(osp.join(ctx.workdir, "base", "recipe.yaml"), osp.join(ctx.workdir, "base"))
        PEAKS["recipe"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    tracemalloc.start()
    try:
        crash = _check_recipe(path, folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    limit = 2 * PEAKS["recipe"] + (16 << 20)
    if crash is None and peak > limit:
        crash = Crash("memory:recipe", f"traced peak {peak} bytes > {limit}\n{text[:2000]!r}")
    return crash
