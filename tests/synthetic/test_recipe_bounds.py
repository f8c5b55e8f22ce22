"""A recipe costs what its text says: hostile recipes are clear errors, small in memory.

Alias bombs, huge lists and ranges, numbers that overflow, mixed key types, deep nesting: each is a
Datumaro error naming the file (and the key), allocating little; detection never crashes on them.
Memory is measured in a child process (tracemalloc's peak above the state after importing Datumaro),
so that a regression fails the test instead of taking the test runner down.
"""

from __future__ import annotations

import json
import os.path as osp
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datumaro as dm
from datumaro.components.errors import DatumaroError

from datumaro_mnist_plugins.mnist_synthetic import RECIPE_KEYS, Recipe, RecipeError, load_recipe

LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)

#: name -> (file name, text, words the error must contain)
HOSTILE = {
    "billion laughs in a key": ("recipe.yaml", LAUGHS + "\nclasses: *i\n", ["alias"]),
    "billion laughs as a subset": ("recipe.yaml", LAUGHS + "\nsubsets: {train: *i}\n", ["alias"]),
    "an alias as a merge key": ("recipe.yaml", "s: &s {count: 3}\nsubsets: {train: {<<: *s}}\n", ["alias"]),
    "a list of 30,000 values": ("recipe.yaml", "subsets: {train: {count: 1000, indices: [" + "0," * 30000 + "0]}}\n",
                                 ["values"]),
    "indices over a billion items": ("recipe.yaml", "subsets: {train: {count: 1000000000, indices: '0-999999999'}}",
                                     ["subsets.train", "count"]),
    "a range past the count": ("recipe.yaml", "subsets: {train: {count: 1000, indices: '0-999999999'}}",
                               ["subsets.train", "0-999999999"]),
    "ranges that repeat": ("recipe.yaml", "subsets: {train: {count: 1000000, indices: '" + "0-999999," * 50 + "'}}",
                           ["subsets.train", "increasing"]),
    "keep_classes of a billion items": ("recipe.yaml", "subsets: {train: {count: 1000000000, keep_classes: [1]}}",
                                        ["subsets.train", "count"]),
    "keep_classes longer than the classes": ("recipe.json", json.dumps({"subsets": {"t": {
        "count": 5, "keep_classes": [1] * 200000}}}), ["subsets.t", "keep_classes must be at most 10"]),
    "proportions of 1e308": ("recipe.yaml", "proportions: [1.0e+308, 1.0e+308, 1, 1, 1, 1, 1, 1, 1, 1]", ["proportions"]),
    "proportions of 1e400": ("recipe.json", '{"proportions": [1e400, 1, 1, 1, 1, 1, 1, 1, 1, 1]}', ["proportions"]),
    "an infinite proportion": ("recipe.yaml", "proportions: [.inf, 1, 1, 1, 1, 1, 1, 1, 1, 1]", ["proportions"]),
    "a NaN proportion": ("recipe.yaml", "proportions: [.nan, 1, 1, 1, 1, 1, 1, 1, 1, 1]", ["proportions"]),
    "a huge integer proportion": ("recipe.json", '{"subsets": {"t": {"count": 3, "proportions": [' + "9" * 4000
                                  + ', 1, 1, 1, 1, 1, 1, 1, 1, 1]}}}', ["proportions"]),
    "a 400-digit style knob": ("recipe.json", '{"style": {"noise": ' + "9" * 400 + '}}', ["style.noise"]),
    "a 400-digit pen width": ("recipe.json", '{"style": {"stroke_width": [1, ' + "9" * 400 + ']}}',
                              ["style.stroke_width"]),
    "a boolean seed": ("recipe.yaml", "seed: true", ["seed"]),
    "a boolean count": ("recipe.yaml", "subsets: {train: {count: true}}", ["subsets.train", "count"]),
    "a boolean class": ("recipe.yaml", "subsets: {train: {count: 3, keep_classes: [true]}}", ["keep_classes"]),
    "a boolean image size": ("recipe.yaml", "style: {image_size: true}", ["style.image_size"]),
    "a trillion items": ("recipe.yaml", "subsets: {train: 1000000000000}", ["subsets.train", "count"]),
    "a huge image size": ("recipe.yaml", "style: {image_size: 100000000}", ["style.image_size"]),
    "mixed key types": ("recipe.yaml", "{1: 2, colour: red}", ["unknown key"]),
    "mixed style key types": ("recipe.yaml", "style: {1: 2, noise: 0.1}", ["style.1"]),
    "mixed subset key types": ("recipe.yaml", "subsets: {train: {1: 2, count: 3}}", ["subsets.train"]),
    "deep YAML nesting": ("recipe.yaml", "seed: " + "[" * 5000 + "]" * 5000, ["recipe.yaml"]),
    "deep JSON nesting": ("recipe.json", '{"seed": ' + "[" * 100000 + "]" * 100000 + "}", ["recipe.json"]),
    "a JSON recipe of 8 MB of lists": ("recipe.json", '{"seed": [' + "[]," * (8 << 18) + "[]]}", ["bytes"]),
    "a recipe file of 9 MB": ("recipe.yaml", "seed: 1\n" + "#" * (9 << 20) + "\n", ["bytes"]),
}

_CHILD = r"""
import json, sys, tracemalloc
import datumaro as dm
from datumaro.components.errors import DatumaroError
from datumaro_mnist_plugins.mnist_synthetic import load_recipe
results = {}
for name, path in json.loads(sys.argv[1]).items():
    tracemalloc.start()
    try:
        load_recipe(path)
        outcome = "loaded"
    except DatumaroError as e:
        outcome = type(e).__name__ + ": " + str(e)[:2000]
    except BaseException as e:
        outcome = "ESCAPED " + type(e).__name__ + ": " + str(e)[:300]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    results[name] = [outcome, peak]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    paths = {}
    for number, (name, (file_name, text, _)) in enumerate(HOSTILE.items()):
        folder = tmp_path_factory.mktemp(f"hostile{number}")
        (folder / file_name).write_text(text)
        paths[name] = str(folder / file_name)
    return paths


@pytest.fixture(scope="module")
def outcomes(hostile_files):
    """Each hostile recipe loaded in a child process limited to 2 GB: (outcome, peak bytes allocated)."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
    result = subprocess.run(
        [sys.executable, "-c", limit + _CHILD, json.dumps(hostile_files)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_recipe_is_a_small_clear_error(outcomes, hostile_files, name):
    outcome, peak = outcomes[name]
    assert outcome.startswith(("RecipeError", "DatasetImportError")), outcome
    assert hostile_files[name] in outcome
    for word in HOSTILE[name][2]:
        assert word in outcome, outcome
    assert peak < 100 << 20, f"{name}: {peak / 2**20:.0f} MB allocated"


@pytest.mark.parametrize("name", ["billion laughs in a key", "mixed key types", "deep YAML nesting",
                                  "proportions of 1e308", "a list of 30,000 values"])
def test_detection_never_fails_on_a_hostile_recipe(hostile_files, name):
    folder = osp.dirname(hostile_files[name])
    assert "mnist_synthetic" not in dm.Environment().detect_dataset(folder, depth=0)
    with pytest.raises(DatumaroError):
        dm.Dataset.import_from(folder, "mnist_synthetic")


def recipe_values():
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=8),
        st.sampled_from([0, 1, 9, 10, 10**9, 10**9 + 1, 1e308, "0-5", "0-999999999", "3-1", "a-b", ""]),
    )
    keys = st.one_of(st.sampled_from(RECIPE_KEYS + ("count", "keep_classes", "indices", "proportions",
                                                    "image_size", "noise", "train")),
                     st.integers(-2, 2), st.text(max_size=4), st.none(), st.booleans())
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=11), st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(st.sampled_from(RECIPE_KEYS), recipe_values(), max_size=6) | recipe_values())
def test_any_parsed_recipe_is_a_recipe_or_a_recipe_error(data):
    try:
        recipe = Recipe.from_mapping(data, source="fuzz.yaml")
    except RecipeError as e:
        assert str(e).startswith("fuzz.yaml")
        return
    assert Recipe.from_mapping(recipe.to_mapping()) == recipe


def test_the_bounds_leave_real_recipes_alone(tmp_path):
    """A filtered subset of a million items, and every knob at its limit, still load."""
    path = tmp_path / "recipe.yaml"
    path.write_text("subsets: {train: {count: 1000000, indices: '0-999999'}, test: {count: 999, keep_classes: [0, 9]}}\n"
                    "proportions: [1.0e+300, 1.0e+300, 0, 0, 0, 0, 0, 0, 0, 1]\nstyle: {image_size: 1024}\n")
    recipe = load_recipe(str(path))
    assert recipe.subsets["train"].indices[-1] == 999999 and recipe.style.image_size == 1024
