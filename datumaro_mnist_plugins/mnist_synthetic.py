"""The ``mnist_synthetic`` source: a small recipe file whose items are generated MNIST-like digits.

A recipe (YAML or JSON) names a seed, the subsets and their sizes, which digits to draw and how often,
their label names, and the drawing style. Item *i* of subset *s* is drawn from (seed, s, i) alone, so
items are made lazily, in any order, byte-identical every time, and a 70,000-image dataset costs a few
lines of text. The drawing itself lives in :mod:`.synthetic_digits` (numpy and Pillow only).

    seed: 0
    subsets: {train: 60000, test: 10000}
    classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]     # digits to draw (default: all ten)
    proportions: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]  # relative frequencies (default: equal)
    label_names: [zero, one, ...]               # class names (default: the digits)
    style: {image_size: 28, stroke_width: [1.6, 3.2], ...}   # see DigitStyle
"""

from __future__ import annotations

import dataclasses
import json
import os.path as osp
import zlib
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetBase, DatasetItem
from datumaro.components.errors import DatasetImportError, DatumaroError
from datumaro.components.format_detection import FormatDetectionConfidence, FormatDetectionContext
from datumaro.components.generator import DatasetGenerator
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image

from ._common import label_categories, make_item
from .synthetic_digits import DIGIT_CLASSES, DigitStyle, item_rng, render_digit

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
#: The file a folder-shaped recipe (an exporter's output) keeps its recipe in.
RECIPE_FILE = "recipe.yaml"
DEFAULT_SUBSETS = {"train": 60000, "test": 10000}
RECIPE_KEYS = ("seed", "subsets", "classes", "proportions", "label_names", "style")
#: Labels are drawn in blocks of this many items, each block from its own stream: random access
#: costs one block, and memory does not grow with the subset.
_LABEL_BLOCK = 4096


class RecipeError(DatumaroError):
    """A recipe key is unknown or its value is out of range; the message names the file and key."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    seed: int
    subsets: Dict[str, int]
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
        unknown = sorted(set(data) - set(RECIPE_KEYS))
        if unknown:
            raise fail(unknown[0], f"unknown key (known: {', '.join(RECIPE_KEYS)})")

        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise fail("seed", f"must be a whole number 0..2^63-1, not {seed!r}")

        subsets = data.get("subsets", DEFAULT_SUBSETS)
        if not isinstance(subsets, Mapping) or not subsets:
            raise fail("subsets", "must map subset names to item counts, e.g. {train: 60000, test: 10000}")
        for name, count in subsets.items():
            if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
                raise fail("subsets", f"subset name {name!r} is not a plain name")
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10**9:
                raise fail("subsets", f"count of '{name}' must be a whole number 0..1e9, not {count!r}")

        classes = data.get("classes", list(range(len(DIGIT_CLASSES))))
        if (
            not isinstance(classes, Sequence)
            or isinstance(classes, str)
            or not classes
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9 for c in classes)
            or len(set(classes)) != len(classes)
        ):
            raise fail("classes", f"must be a list of distinct digits 0..9, not {classes!r}")

        proportions = data.get("proportions", [1] * len(classes))
        if (
            not isinstance(proportions, Sequence)
            or len(proportions) != len(classes)
            or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and p >= 0 for p in proportions)
            or not sum(proportions) > 0
        ):
            raise fail("proportions", f"must be {len(classes)} non-negative numbers, not all zero")

        names = data.get("label_names", [DIGIT_CLASSES[c] for c in classes])
        if (
            not isinstance(names, Sequence)
            or len(names) != len(classes)
            or not all(isinstance(n, str) and n for n in names)
            or len(set(names)) != len(names)
        ):
            raise fail("label_names", f"must be {len(classes)} distinct non-empty names, one per class")

        style_data = data.get("style", {}) or {}
        if not isinstance(style_data, Mapping):
            raise fail("style", "must be a mapping of style knobs")
        known = {f.name: f for f in dataclasses.fields(DigitStyle)}
        for key, value in style_data.items():
            if key not in known:
                raise fail(f"style.{key}", f"unknown style knob (known: {', '.join(known)})")
        try:
            style = DigitStyle(**{k: tuple(v) if isinstance(v, list) else v for k, v in style_data.items()})
        except (TypeError, ValueError) as e:
            knob, _, message = str(e).partition(": ")
            # `from None`: Datumaro's import_from reports an error's cause instead of the error itself
            raise (fail(f"style.{knob}", message) if message else fail("style", str(e))) from None

        return cls(
            seed=seed,
            subsets=dict(subsets),
            classes=tuple(classes),
            proportions=tuple(float(p) for p in proportions),
            label_names=tuple(names),
            style=style,
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
            "subsets": dict(self.subsets),
            "classes": list(self.classes),
            "proportions": list(self.proportions),
            "label_names": list(self.label_names),
        }
        if style:
            data["style"] = style
        return data


def load_recipe(path: str, overrides: Optional[Mapping[str, Any]] = None) -> Recipe:
    """Read and validate a recipe file (or a folder holding ``recipe.yaml``), with *overrides* on top."""
    if osp.isdir(path):
        path = osp.join(path, RECIPE_FILE)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetImportError(f"{path}: can't read the recipe ({e})") from None
    try:
        if path.lower().endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError
        raise DatasetImportError(f"{path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {e}") from None
    if data is None:
        data = {}
    if overrides:
        if not isinstance(data, dict):
            raise RecipeError(f"{path}: a recipe is a mapping of keys to values")
        data = {**data, **overrides}
    return Recipe.from_mapping(data, source=path)


class SyntheticDigits:
    """The items a recipe describes, each made on demand from (seed, subset, index)."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self._cdf = np.cumsum(recipe.proportions) / sum(recipe.proportions)
        self._label_block: Tuple[Optional[Tuple[str, int]], Optional[np.ndarray]] = (None, None)

    def label(self, subset: str, index: int) -> int:
        """The class index (into ``recipe.classes``) of item *index*."""
        block = index // _LABEL_BLOCK
        key, labels = self._label_block
        if key != (subset, block):
            rng = np.random.default_rng([self.recipe.seed, zlib.crc32(subset.encode()), 1, block])
            labels = np.searchsorted(self._cdf, rng.random(_LABEL_BLOCK), side="right")
            labels = np.minimum(labels, len(self._cdf) - 1)
            self._label_block = ((subset, block), labels)
        return int(labels[index % _LABEL_BLOCK])

    def image(self, subset: str, index: int) -> np.ndarray:
        digit = self.recipe.classes[self.label(subset, index)]
        return render_digit(digit, item_rng(self.recipe.seed, subset, index), self.recipe.style)

    def item(self, subset: str, index: int) -> DatasetItem:
        size = (self.recipe.style.image_size,) * 2
        image = Image.from_numpy(data=lambda: self.image(subset, index), size=size)
        return make_item(str(index), subset, self.label(subset, index), image)


class MnistSyntheticBase(DatasetBase):
    """Generated MNIST-like digits from a recipe; items are drawn lazily, when their image is used."""

    def __init__(
        self,
        path: Optional[str] = None,
        *,
        recipe: Optional[Recipe] = None,
        stream: bool = False,
        ctx: Optional[ImportContext] = None,
        **overrides: Any,
    ):
        self._digits = SyntheticDigits(recipe or load_recipe(path, overrides))
        recipe = self._digits.recipe
        super().__init__(
            length=sum(recipe.subsets.values()),
            subsets=list(recipe.subsets),
            media_type=Image,
            ann_types={AnnotationType.label},
            ctx=ctx,
        )
        self._stream = stream
        self._categories = label_categories(recipe.label_names)

    @property
    def recipe(self) -> Recipe:
        return self._digits.recipe

    def categories(self):
        return self._categories

    def __iter__(self) -> Iterator[DatasetItem]:
        progress = self._ctx.progress_reporter
        for subset, count in self.recipe.subsets.items():
            for index in progress.iter(range(count), desc=f"Generating '{subset}'"):
                yield self._digits.item(subset, index)

    def __len__(self) -> int:
        return self._length

    def get(self, id, subset=None) -> Optional[DatasetItem]:
        count = self.recipe.subsets.get(subset)
        if count is None or not str(id).isdigit() or int(id) >= count:
            return None
        return self._digits.item(subset, int(id))

    @property
    def is_stream(self) -> bool:
        return self._stream


class MnistSyntheticImporter(Importer):
    """A recipe file (.yaml/.yml/.json) or a folder with recipe.yaml: generated MNIST-like digits."""

    DETECT_CONFIDENCE = FormatDetectionConfidence.LOW

    @classmethod
    def detect(cls, context: FormatDetectionContext) -> FormatDetectionConfidence:
        # stricter than find_sources: only a file that is a valid recipe, not any YAML
        if not any(_looks_like_recipe(source["url"]) for source in cls.find_sources(context.root_path)):
            context.fail("no mnist_synthetic recipe (a YAML/JSON file of recipe keys)")
        return cls.DETECT_CONFIDENCE

    @classmethod
    def find_sources(cls, path: str) -> List[Dict]:
        """A recipe file named explicitly (its errors are reported on import), or a folder's recipe.yaml."""
        candidate = path if osp.isfile(path) else osp.join(path, RECIPE_FILE)
        if osp.isfile(candidate) and candidate.lower().endswith(RECIPE_SUFFIXES):
            return [{"url": candidate, "format": MnistSyntheticBase.NAME}]
        return []

    @classmethod
    def get_file_extensions(cls) -> List[str]:
        return list(RECIPE_SUFFIXES)

    @property
    def can_stream(self) -> bool:
        return True


def _looks_like_recipe(path: str) -> bool:
    if not (osp.isfile(path) and path.lower().endswith(RECIPE_SUFFIXES)) or osp.getsize(path) > 1 << 20:
        return False
    try:
        load_recipe(path)
    except DatumaroError:
        return False
    return True


class MnistSyntheticGenerator(DatasetGenerator):
    """Writes an MNIST-format dataset of *count* generated digits (a Datumaro DatasetGenerator)."""

    def __init__(self, output_dir: str, count: int, shape=(28, 28), *, seed: int = 0, subset: str = "train", **recipe):
        if len(shape) < 2 or shape[0] != shape[1]:
            raise RecipeError(f"shape {tuple(shape)}: generated digits are square")
        style = dict(recipe.pop("style", {}) or {}, image_size=int(shape[0]))
        self._recipe = Recipe.from_mapping({"seed": seed, "subsets": {subset: int(count)}, "style": style, **recipe})
        self._output_dir = output_dir

    def generate_dataset(self) -> None:
        from datumaro.components.dataset import StreamDataset

        from .mnist import MnistExporter

        source = MnistSyntheticBase(recipe=self._recipe, stream=True)
        MnistExporter.convert(StreamDataset.from_extractors(source), self._output_dir, save_media=True)
