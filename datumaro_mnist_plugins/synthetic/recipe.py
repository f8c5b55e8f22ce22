"""A recipe: the few lines of YAML or JSON that describe a generated dataset, read, checked and written.

    seed: 0
    subsets: {train: 60000, test: 10000}        # or per subset: {count: 60000, proportions: [...],
                                                #   keep_classes: [3, 8] or indices: "0-99,250"}
    classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]     # digits to draw (default: all ten)
    proportions: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]  # relative frequencies (default: equal)
    label_names: [zero, one, ...]               # class names (default: the digits)
    style: {image_size: 28, stroke_width: [1.6, 3.2], ...}   # see DigitStyle

Every error names the file and the key; what a recipe may cost is bounded in :mod:`.limits`.
"""

from __future__ import annotations

import dataclasses
import os.path as osp
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from datumaro.components.errors import DatasetExportError, DatasetImportError, DatumaroError

from ..checks import is_int_in
from .allographs import DIGIT_CLASSES
from .index_runs import IndexRuns
from .limits import (
    MAX_FILTERED_COUNT,
    MAX_RECIPE_BYTES,
    RecipeTooCostly,
    brief,
    parse_recipe_text,
    unknown_keys,
    valid_proportions,
)
from .style import DigitStyle

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
#: The file a folder-shaped recipe (an exporter's output) keeps its recipe in.
RECIPE_FILE = "recipe.yaml"
DEFAULT_SUBSETS = {"train": 60000, "test": 10000}
RECIPE_KEYS = ("seed", "subsets", "classes", "proportions", "label_names", "style")

Fail = Callable[[str, str], "RecipeError"]  # (key, message) -> the error naming both


@dataclasses.dataclass(frozen=True)
class SubsetSpec:
    """One subset: items 0..count-1 are drawn; a filtered dataset keeps some of them."""

    count: int
    proportions: Optional[Tuple[float, ...]] = None  # this subset's class frequencies (default: the recipe's)
    keep_classes: Optional[Tuple[int, ...]] = None  # keep the items of these class indices only
    indices: Optional[IndexRuns] = None  # keep these items only (any increasing sequence is taken)

    def __post_init__(self):
        if self.indices is not None and not isinstance(self.indices, IndexRuns):
            object.__setattr__(self, "indices", IndexRuns.of(self.indices))

    def to_data(self) -> Any:
        if self.proportions is None and self.keep_classes is None and self.indices is None:
            return self.count
        data: Dict[str, Any] = {"count": self.count}
        if self.proportions is not None:
            data["proportions"] = list(self.proportions)
        if self.keep_classes is not None:
            data["keep_classes"] = list(self.keep_classes)
        if self.indices is not None:
            data["indices"] = format_ranges(self.indices)
        return data


def format_ranges(indices: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> ``"0-3,7"``: a filtered subset in a line of text."""
    return IndexRuns.of(indices).text()


def parse_ranges(text: Any, count: int) -> IndexRuns:
    """The inverse of :func:`format_ranges` (a list of ints is accepted too); sorted, unique, < count."""
    if not isinstance(text, (list, tuple)):
        return IndexRuns.parse(str(text), count)
    if not all(is_int_in(v, 0, count, numpy=False) for v in text):
        raise ValueError(f"indices must be whole numbers 0..{count - 1}")
    return IndexRuns.of(text)


class RecipeError(DatumaroError):
    """A recipe key is unknown or its value is out of range; the message names the file and key."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    seed: int
    subsets: Dict[str, SubsetSpec]
    classes: Tuple[int, ...]
    proportions: Tuple[float, ...]
    label_names: Tuple[str, ...]
    style: DigitStyle

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "recipe") -> "Recipe":
        """Validate *data* (a parsed recipe, overrides applied); every error names the key."""

        def fail(key: str, message: str) -> RecipeError:
            return RecipeError(f"{source}: '{key}': {message}")

        if not isinstance(data, Mapping):
            raise RecipeError(f"{source}: a recipe is a mapping of keys to values, not {type(data).__name__}")
        unknown = unknown_keys(data, RECIPE_KEYS)
        if unknown:
            raise fail(unknown[0], f"unknown key (known: {', '.join(RECIPE_KEYS)})")

        seed = data.get("seed", 0)
        if not is_int_in(seed, 0, 2**63, numpy=False):
            raise fail("seed", f"must be a whole number 0..2^63-1, not {brief(seed)}")
        subsets = data.get("subsets", DEFAULT_SUBSETS)
        if not isinstance(subsets, Mapping) or not subsets:
            raise fail("subsets", "must map subset names to item counts, e.g. {train: 60000, test: 10000}")
        classes = _classes(data, fail)
        proportions = data.get("proportions", [1] * len(classes))
        if not valid_proportions(proportions, len(classes)):
            raise fail("proportions", f"must be {len(classes)} finite non-negative numbers, not all zero")
        names = _label_names(data, classes, fail)
        specs = _subset_specs(subsets, len(classes), fail)
        return cls(
            seed=seed,
            subsets=specs,
            classes=tuple(classes),
            proportions=tuple(float(p) for p in proportions),
            label_names=tuple(names),
            style=_style(data, fail),
        )

    def to_mapping(self) -> Dict[str, Any]:
        """The recipe as plain data, for writing back (issue: a recipe exporter)."""
        style = {
            f.name: list(v) if isinstance(v, tuple) else v
            for f in dataclasses.fields(DigitStyle)
            if (v := getattr(self.style, f.name)) != f.default
        }
        data = {
            "seed": self.seed,
            "subsets": {name: spec.to_data() for name, spec in self.subsets.items()},
            "classes": list(self.classes),
            "proportions": list(self.proportions),
            "label_names": list(self.label_names),
        }
        if style:
            data["style"] = style
        return data


def _classes(data: Mapping[str, Any], fail: Fail) -> Sequence[int]:
    classes = data.get("classes", list(range(len(DIGIT_CLASSES))))
    if (
        not isinstance(classes, Sequence)
        or isinstance(classes, str)
        or not classes
        or not all(is_int_in(c, 0, 10, numpy=False) for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise fail("classes", f"must be a list of distinct digits 0..9, not {brief(classes)}")
    return classes


def _label_names(data: Mapping[str, Any], classes: Sequence[int], fail: Fail) -> Sequence[str]:
    names = data.get("label_names", [DIGIT_CLASSES[c] for c in classes])
    if (
        not isinstance(names, Sequence)
        or len(names) != len(classes)
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) != len(names)
    ):
        raise fail("label_names", f"must be {len(classes)} distinct non-empty names, one per class")
    return names


def _subset_specs(subsets: Mapping[Any, Any], class_count: int, fail: Fail) -> Dict[str, SubsetSpec]:
    specs = {}
    for name, value in subsets.items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            raise fail("subsets", f"subset name {brief(name)} is not a plain name")
        specs[name] = _subset_spec(value, class_count, lambda message: fail(f"subsets.{name}", message))
    return specs


def _style(data: Mapping[str, Any], fail: Fail) -> DigitStyle:
    style_data = data.get("style", {}) or {}
    if not isinstance(style_data, Mapping):
        raise fail("style", "must be a mapping of style knobs")
    known = [f.name for f in dataclasses.fields(DigitStyle)]
    unknown = unknown_keys(style_data, known)
    if unknown:
        raise fail(f"style.{unknown[0]}", f"unknown style knob (known: {', '.join(known)})")
    try:
        return DigitStyle(**style_data)  # it validates every knob (and stores lists as tuples)
    except (TypeError, ValueError) as e:
        knob, _, message = str(e).partition(": ")
        # `from None`: Datumaro's import_from reports an error's cause instead of the error itself
        raise (fail(f"style.{knob}", message) if message else fail("style", str(e))) from None


_SPEC_KEYS = ("count", "proportions", "keep_classes", "indices")


def _subset_spec(value: Any, class_count: int, fail) -> SubsetSpec:
    if not isinstance(value, Mapping):
        value = {"count": value}
    unknown = unknown_keys(value, _SPEC_KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (known: {', '.join(_SPEC_KEYS)})")
    count = value.get("count")
    if not is_int_in(count, 0, 10**9 + 1, numpy=False):
        raise fail(f"count must be a whole number 0..1e9, not {brief(count)}")
    proportions = value.get("proportions")
    if proportions is not None and not valid_proportions(proportions, class_count):
        raise fail(f"proportions must be {class_count} finite non-negative numbers, not all zero")
    keep = value.get("keep_classes")
    if keep is not None and (
        not isinstance(keep, Sequence)
        or isinstance(keep, str)
        or len(keep) > class_count
        or not all(is_int_in(k, 0, class_count, numpy=False) for k in keep)
    ):
        raise fail(f"keep_classes must be at most {class_count} class indices 0..{class_count - 1}")
    indices = value.get("indices")
    if (keep is not None or indices is not None) and count > MAX_FILTERED_COUNT:
        raise fail(f"a filtered subset (keep_classes, indices) lists its items: count is at most {MAX_FILTERED_COUNT}")
    if indices is not None:
        try:
            indices = parse_ranges(indices, count)
        except ValueError as e:
            raise fail(str(e)) from None
    return SubsetSpec(
        count=count,
        proportions=tuple(float(p) for p in proportions) if proportions is not None else None,
        keep_classes=tuple(sorted(set(keep))) if keep is not None else None,
        indices=indices,
    )


def load_recipe(path: str, overrides: Optional[Mapping[str, Any]] = None) -> Recipe:
    """Read and validate a recipe file (or a folder holding ``recipe.yaml``), with *overrides* on top."""
    if osp.isdir(path):
        path = osp.join(path, RECIPE_FILE)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RECIPE_BYTES + 1)
    except OSError as e:
        raise DatasetImportError(f"{path}: can't read the recipe ({e})") from None
    is_json = path.lower().endswith(".json")
    try:
        data = parse_recipe_text(raw, is_json)
        del raw  # a long `indices` line is then held once, as the parsed text
    except RecipeTooCostly as e:
        raise RecipeError(f"{path}: {e}") from None
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError, RecursionError
        raise DatasetImportError(f"{path}: not valid {'JSON' if is_json else 'YAML'}: {str(e)[:500]}") from None
    if data is None:
        data = {}
    if overrides:
        if not isinstance(data, dict):
            raise RecipeError(f"{path}: a recipe is a mapping of keys to values")
        data = {**data, **overrides}
    return Recipe.from_mapping(data, source=path)


def save_recipe(path: str, recipe: Recipe, kind: str) -> None:
    """Write recipe.yaml and read it back: what we write must load as the same recipe, or the export fails."""
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# mnist_synthetic recipe ({kind})\n")
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: the same text, a long `indices` 60x faster
        yaml.dump(recipe.to_mapping(), f, Dumper=dumper, sort_keys=False, allow_unicode=True, width=120)
    try:
        same = load_recipe(path) == recipe
    except DatumaroError as e:
        raise DatasetExportError(f"mnist_synthetic: this dataset's recipe would not load back: {e}") from None
    if not same:
        raise DatasetExportError("mnist_synthetic: this dataset's recipe does not read back as written")
