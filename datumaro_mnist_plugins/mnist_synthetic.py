"""The ``mnist_synthetic`` source: a small recipe file whose items are generated MNIST-like digits.

A recipe (YAML or JSON) names a seed, the subsets and their sizes, which digits to draw and how often,
their label names, and the drawing style. Item *i* of subset *s* is drawn from (seed, s, i) alone, so
items are made lazily, in any order, byte-identical every time, and a 70,000-image dataset costs a few
lines of text. The drawing itself lives in :mod:`.synthetic_digits` (numpy and Pillow only).

    seed: 0
    subsets: {train: 60000, test: 10000}        # or per subset: {count: 60000, proportions: [...],
                                                #   keep_classes: [3, 8] or indices: "0-99,250"}
    classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]     # digits to draw (default: all ten)
    proportions: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]  # relative frequencies (default: equal)
    label_names: [zero, one, ...]               # class names (default: the digits)
    style: {image_size: 28, stroke_width: [1.6, 3.2], ...}   # see DigitStyle
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os.path as osp
import zlib
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetBase, DatasetItem
from datumaro.components.errors import DatasetExportError, DatasetImportError, DatumaroError
from datumaro.components.format_detection import FormatDetectionConfidence, FormatDetectionContext
from datumaro.components.generator import DatasetGenerator
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image

from datumaro.util.meta_file_util import DATASET_META_FILE, save_meta_file

from .export import StagedExporter, pillow_format_for
from .items import make_item
from .labels import label_categories, label_names_of
from .transaction import staged_export
from .export import check_destination, dotted, gray_pixels, item_label
from .items import shown_id
from .labels import NO_LABEL
from .files import recover_interrupted_export
from .items import built_in_batches, new_image
from .parallel_render import WORKERS_ENV, BlockRenderer
from .recipe_limits import (
    MAX_FILTERED_COUNT,
    MAX_RECIPE_BYTES,
    RecipeTooCostly,
    brief,
    expand_ranges,
    parse_recipe_text,
    unknown_keys,
    valid_proportions,
)
from .synthetic_digits import DIGIT_CLASSES, DigitStyle, item_rng, render_digit
from .export import check_image_ext_needs_media

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
#: The file a folder-shaped recipe (an exporter's output) keeps its recipe in.
RECIPE_FILE = "recipe.yaml"
DEFAULT_SUBSETS = {"train": 60000, "test": 10000}
RECIPE_KEYS = ("seed", "subsets", "classes", "proportions", "label_names", "style")
#: Labels are drawn in blocks of this many items, each block from its own stream: random access
#: costs one block, and memory does not grow with the subset.
_LABEL_BLOCK = 4096


@dataclasses.dataclass(frozen=True)
class SubsetSpec:
    """One subset: items 0..count-1 are drawn; a filtered dataset keeps some of them."""

    count: int
    proportions: Optional[Tuple[float, ...]] = None  # this subset's class frequencies (default: the recipe's)
    keep_classes: Optional[Tuple[int, ...]] = None  # keep the items of these class indices only
    indices: Optional[Tuple[int, ...]] = None  # keep these items only

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
    if not len(indices):
        return ""
    values = np.asarray(indices, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    runs = np.split(values, breaks)
    return ",".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def parse_ranges(text: Any, count: int) -> Tuple[int, ...]:
    """The inverse of :func:`format_ranges` (a list of ints is accepted too); sorted, unique, < count."""
    values = list(text) if isinstance(text, (list, tuple)) else expand_ranges(str(text), count)
    if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < count for v in values):
        raise ValueError(f"indices must be whole numbers 0..{count - 1}")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError("indices must be increasing")
    return tuple(values)


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
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise fail("seed", f"must be a whole number 0..2^63-1, not {brief(seed)}")

        subsets = data.get("subsets", DEFAULT_SUBSETS)
        if not isinstance(subsets, Mapping) or not subsets:
            raise fail("subsets", "must map subset names to item counts, e.g. {train: 60000, test: 10000}")

        classes = data.get("classes", list(range(len(DIGIT_CLASSES))))
        if (
            not isinstance(classes, Sequence)
            or isinstance(classes, str)
            or not classes
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9 for c in classes)
            or len(set(classes)) != len(classes)
        ):
            raise fail("classes", f"must be a list of distinct digits 0..9, not {brief(classes)}")

        proportions = data.get("proportions", [1] * len(classes))
        if not valid_proportions(proportions, len(classes)):
            raise fail("proportions", f"must be {len(classes)} finite non-negative numbers, not all zero")

        names = data.get("label_names", [DIGIT_CLASSES[c] for c in classes])
        if (
            not isinstance(names, Sequence)
            or len(names) != len(classes)
            or not all(isinstance(n, str) and n for n in names)
            or len(set(names)) != len(names)
        ):
            raise fail("label_names", f"must be {len(classes)} distinct non-empty names, one per class")

        specs = {}
        for name, value in subsets.items():
            if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
                raise fail("subsets", f"subset name {brief(name)} is not a plain name")
            specs[name] = _subset_spec(value, len(classes), lambda message: fail(f"subsets.{name}", message))

        style_data = data.get("style", {}) or {}
        if not isinstance(style_data, Mapping):
            raise fail("style", "must be a mapping of style knobs")
        known = [f.name for f in dataclasses.fields(DigitStyle)]
        unknown = unknown_keys(style_data, known)
        if unknown:
            raise fail(f"style.{unknown[0]}", f"unknown style knob (known: {', '.join(known)})")
        try:
            style = DigitStyle(**style_data)  # it validates every knob (and stores lists as tuples)
        except (TypeError, ValueError) as e:
            knob, _, message = str(e).partition(": ")
            # `from None`: Datumaro's import_from reports an error's cause instead of the error itself
            raise (fail(f"style.{knob}", message) if message else fail("style", str(e))) from None

        return cls(
            seed=seed,
            subsets=specs,
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
            "subsets": {name: spec.to_data() for name, spec in self.subsets.items()},
            "classes": list(self.classes),
            "proportions": list(self.proportions),
            "label_names": list(self.label_names),
        }
        if style:
            data["style"] = style
        return data


_SPEC_KEYS = ("count", "proportions", "keep_classes", "indices")


def _subset_spec(value: Any, class_count: int, fail) -> SubsetSpec:
    if not isinstance(value, Mapping):
        value = {"count": value}
    unknown = unknown_keys(value, _SPEC_KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (known: {', '.join(_SPEC_KEYS)})")
    count = value.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10**9:
        raise fail(f"count must be a whole number 0..1e9, not {brief(count)}")
    proportions = value.get("proportions")
    if proportions is not None and not valid_proportions(proportions, class_count):
        raise fail(f"proportions must be {class_count} finite non-negative numbers, not all zero")
    keep = value.get("keep_classes")
    if keep is not None and (
        not isinstance(keep, Sequence)
        or isinstance(keep, str)
        or len(keep) > class_count
        or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < class_count for k in keep)
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


class GeneratedPixels:
    """The lazy image of one generated item, and where it came from (read back by the exporter)."""

    __slots__ = ("digits", "subset", "index")

    def __init__(self, digits: "SyntheticDigits", subset: str, index: int):
        self.digits, self.subset, self.index = digits, subset, index

    def __call__(self) -> np.ndarray:
        return self.digits.image(self.subset, self.index)


class SyntheticDigits:
    """The items a recipe describes, each made on demand from (seed, subset, index).

    Images are drawn by a :class:`BlockRenderer`: on *workers* processes (default: every CPU) ahead of a
    sequential reader, in-process for an isolated one; the pixels are the same either way.
    """

    def __init__(self, recipe: Recipe, workers: Optional[int] = None):
        self.recipe = recipe
        self._kept: Dict[str, Sequence[int]] = {}
        self._renderer = BlockRenderer(recipe.seed, recipe.style, self.indices, self._digits_of, workers)
        self._size = (recipe.style.image_size,) * 2  # one tuple shared by every image
        self._cdfs = {
            name: np.cumsum(spec.proportions or recipe.proportions) / sum(spec.proportions or recipe.proportions)
            for name, spec in recipe.subsets.items()
        }
        self._label_block: Tuple[Optional[Tuple[str, int]], Optional[np.ndarray]] = (None, None)

    def _labels_of_block(self, subset: str, block: int) -> np.ndarray:
        key, labels = self._label_block
        if key != (subset, block):
            cdf = self._cdfs[subset]
            rng = np.random.default_rng([self.recipe.seed, zlib.crc32(subset.encode()), 1, block])
            labels = np.minimum(np.searchsorted(cdf, rng.random(_LABEL_BLOCK), side="right"), len(cdf) - 1)
            self._label_block = ((subset, block), labels)
        return labels

    def label(self, subset: str, index: int) -> int:
        """The class index (into ``recipe.classes``) of item *index*."""
        return int(self._labels_of_block(subset, index // _LABEL_BLOCK)[index % _LABEL_BLOCK])

    def labels(self, subset: str) -> np.ndarray:
        """Every item's class index, block by block (for filters; 8 bytes an item)."""
        count = self.recipe.subsets[subset].count
        blocks = [self._labels_of_block(subset, b) for b in range((count + _LABEL_BLOCK - 1) // _LABEL_BLOCK)]
        return np.concatenate(blocks)[:count] if blocks else np.zeros(0, np.int64)

    def indices(self, subset: str) -> Sequence[int]:
        """The items of *subset* that the recipe keeps, in order."""
        if subset not in self._kept:
            spec = self.recipe.subsets[subset]
            if spec.indices is not None:
                self._kept[subset] = spec.indices
            elif spec.keep_classes is not None:
                self._kept[subset] = np.flatnonzero(np.isin(self.labels(subset), spec.keep_classes)).tolist()
            else:
                self._kept[subset] = range(spec.count)
        return self._kept[subset]

    def _digits_of(self, subset: str, indices: Sequence[int]) -> List[int]:
        return [self.recipe.classes[self.label(subset, int(i))] for i in indices]

    def image(self, subset: str, index: int) -> np.ndarray:
        return self._renderer.image(subset, index)

    def close(self) -> None:
        """Stop the drawing processes now (they also stop when this object is collected, or at exit)."""
        self._renderer.close()

    def item(self, subset: str, index: int) -> DatasetItem:
        image = new_image(GeneratedPixels(self, subset, index), self._size)
        return make_item(str(index), subset, self.label(subset, index), image)


class MnistSyntheticBase(DatasetBase):
    """Generated MNIST-like digits from a recipe; items are drawn lazily, when their image is used."""

    def __init__(
        self,
        path: Optional[str] = None,
        *,
        recipe: Optional[Recipe] = None,
        stream: bool = False,
        workers: Optional[int] = None,
        ctx: Optional[ImportContext] = None,
        **overrides: Any,
    ):
        recipe = recipe or load_recipe(path, overrides)
        try:
            self._digits = SyntheticDigits(recipe, workers)
        except ValueError as e:  # a bad `workers` option or $MNIST_SYNTHETIC_WORKERS
            raise DatasetImportError(f"{path or 'mnist_synthetic'}: {e}") from None
        recipe = self._digits.recipe
        self._indices = {name: self._digits.indices(name) for name in recipe.subsets}
        self._kept_sets: Dict[str, frozenset] = {}
        super().__init__(
            length=sum(len(i) for i in self._indices.values()),
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
        for subset, indices in self._indices.items():
            build = functools.partial(self._digits.item, subset)
            yield from built_in_batches(build, progress.iter(indices, desc=f"Generating '{subset}'"))

    def __len__(self) -> int:
        return self._length

    def get_subset(self, name: str) -> "MnistSyntheticBase":
        """A view of one subset that makes only that subset's items (the default filters all of them)."""
        if name not in self._indices:
            raise KeyError(f"Unknown subset '{name}', available subsets: {set(self._indices)}")
        if len(self._indices) == 1:
            return self
        view = copy.copy(self)
        view._indices = {name: self._indices[name]}
        view._length, view._subsets = len(self._indices[name]), [name]
        return view

    def get(self, id, subset=None) -> Optional[DatasetItem]:
        spec, kept = self.recipe.subsets.get(subset), self._indices.get(subset)
        if spec is None or kept is None or not str(id).isdigit() or int(id) >= spec.count:
            return None
        index = int(id)
        if not isinstance(kept, range):
            if subset not in self._kept_sets:
                self._kept_sets[subset] = frozenset(kept)
            if index not in self._kept_sets[subset]:
                return None
        return self._digits.item(subset, index)

    @property
    def is_stream(self) -> bool:
        return self._stream


class MnistSyntheticImporter(Importer):
    """A recipe file (.yaml/.yml/.json) or a folder with recipe.yaml: generated MNIST-like digits."""

    DETECT_CONFIDENCE = FormatDetectionConfidence.LOW

    @classmethod
    def build_cmdline_parser(cls, **kwargs):
        parser = super().build_cmdline_parser(**kwargs)
        parser.add_argument(
            "--workers", type=int, default=None,
            help=f"processes drawing digits (default: ${WORKERS_ENV}, else every CPU; 1 = in-process)",
        )
        return parser

    @classmethod
    def detect(cls, context: FormatDetectionContext) -> FormatDetectionConfidence:
        # stricter than find_sources: only a file that is a valid recipe, not any YAML
        if not any(_looks_like_recipe(source["url"]) for source in cls.find_sources(context.root_path)):
            context.fail("no mnist_synthetic recipe (a YAML/JSON file of recipe keys)")
        return cls.DETECT_CONFIDENCE

    @classmethod
    def find_sources(cls, path: str) -> List[Dict]:
        """A recipe file named explicitly (its errors are reported on import), or a folder's recipe.yaml."""
        recover_interrupted_export(path)
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
    except Exception:  # detection never fails: anything that is not a valid recipe is "not this format"
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

    @classmethod
    def generate(cls, output_dir: str, count: int, shape=(28, 28), **options) -> None:
        """Datumaro's ``DatasetGenerator.generate`` with MNIST's 28x28 as the default shape."""
        return cls(output_dir, count, shape, **options).generate_dataset()

    def generate_dataset(self) -> None:
        from datumaro.components.dataset import StreamDataset

        from .mnist import MnistExporter

        source = MnistSyntheticBase(recipe=self._recipe, stream=True)
        MnistExporter.convert(StreamDataset.from_extractors(source), self._output_dir, save_media=True)


# --- the exporter: write a recipe ------------------------------------------------------------------------

#: At most this many images are looked at to estimate a twin's style.
_STYLE_SAMPLE = 2000


def exact_recipe(extractor) -> Optional[Recipe]:
    """The recipe that regenerates exactly these items, if all of them were generated by one recipe.

    Items remember where they came from (their lazy image is a :class:`GeneratedPixels`); a filtered
    dataset keeps that, while a transform that changes ids, subsets, labels or pixels does not.
    """
    digits: Optional[SyntheticDigits] = None
    kept: Dict[str, List[int]] = {}
    for item in extractor:
        source = getattr(item.media, "_data", None)  # Datumaro keeps the lazy loader there
        if not isinstance(source, GeneratedPixels):
            return None
        if digits is None:
            digits = source.digits
        elif source.digits.recipe != digits.recipe:
            return None
        labels = [a.label for a in item.annotations if a.type == AnnotationType.label]
        if (item.subset, item.id) != (source.subset, str(source.index)) or labels != [
            source.digits.label(source.subset, source.index)
        ]:
            return None
        kept.setdefault(item.subset, []).append(source.index)
    if digits is None or label_names_of(extractor) != list(digits.recipe.label_names):
        return None

    subsets = {}
    for name, spec in digits.recipe.subsets.items():
        if name not in kept:
            continue
        indices = sorted(kept[name])
        if indices == list(digits.indices(name)):
            subsets[name] = spec
            continue
        labels = digits.labels(name)
        present = sorted(set(labels[indices].tolist()))
        if np.flatnonzero(np.isin(labels, present)).tolist() == indices:
            subsets[name] = dataclasses.replace(spec, keep_classes=tuple(present), indices=None)
        else:
            subsets[name] = dataclasses.replace(spec, keep_classes=None, indices=tuple(indices))
    return dataclasses.replace(digits.recipe, subsets=subsets)


def twin_recipe(extractor, seed: int = 0) -> Recipe:
    """A recipe with the shape of any labeled image dataset, and a style estimated from its images."""
    names = label_names_of(extractor)
    not_digits = [n for n in names if n.strip() not in DIGIT_CLASSES]
    if not names or not_digits or len({n.strip() for n in names}) != len(names):
        raise DatasetExportError(
            f"mnist_synthetic draws the digits 0-9, so it can only twin a dataset whose classes are digits; "
            f"{'classes ' + ', '.join(map(repr, not_digits[:5])) + ' are not' if not_digits else 'there are no classes'} "
            "(rename them to digits first, e.g. with `datum transform -t remap_labels`)"
        )
    counts: Dict[str, np.ndarray] = {}
    totals: Dict[str, int] = {}
    samples: List[np.ndarray] = []
    for item in extractor:
        totals[item.subset] = totals.get(item.subset, 0) + 1
        per_class = counts.setdefault(item.subset, np.zeros(len(names), np.int64))
        describe = lambda: f"item '{shown_id(item.id)}' of subset '{item.subset}'"  # noqa: E731
        label = item_label(item, len(names), describe)  # a label outside the categories is an error
        if label != NO_LABEL:
            per_class[label] += 1
        if len(samples) < _STYLE_SAMPLE:
            pixels = gray_pixels(item, describe)
            if pixels is not None:
                samples.append(pixels)
    overall = sum(counts.values()) if counts else np.ones(len(names))
    subsets = {
        name: SubsetSpec(count=totals[name], proportions=_shares(counts[name]) if counts[name].sum() else None)
        for name in totals
    }
    try:
        style = estimate_style(samples)
    except ValueError as e:  # a knob out of range: images smaller or larger than digits can be drawn
        raise DatasetExportError(f"mnist_synthetic can't twin this dataset's images: {e}") from None
    return Recipe(
        seed=seed,
        subsets=subsets,
        classes=tuple(int(n.strip()) for n in names),
        proportions=_shares(overall) if overall.sum() else (1.0,) * len(names),
        label_names=tuple(names),
        style=style,
    )


def _shares(counts: np.ndarray) -> Tuple[float, ...]:
    return tuple(round(float(c), 6) for c in counts / counts.sum())


def _shape_stats(images: np.ndarray) -> Dict[str, float]:
    """What a twin can see in N x H x W images: mean ink coverage (0..1), the slant's mean and spread
    (degrees, from second moments)."""
    weights = images.astype(np.float64) / 255.0
    mass = weights.sum(axis=(1, 2)) + 1e-9
    ys, xs = np.mgrid[: images.shape[1], : images.shape[2]]
    cy = (weights * ys).sum(axis=(1, 2)) / mass
    cx = (weights * xs).sum(axis=(1, 2)) / mass
    dy, dx = ys[None] - cy[:, None, None], xs[None] - cx[:, None, None]
    mu11 = (weights * dx * dy).sum(axis=(1, 2))
    mu02 = (weights * dy * dy).sum(axis=(1, 2)) + 1e-9
    slant = np.degrees(np.arctan(-mu11 / mu02))  # leaning right (top to the right) is positive
    return {"ink": float(weights.mean()), "slant": float(slant.mean()), "slant_spread": float(slant.std())}


def _widened(bounds: Tuple[float, float], centre_shift: float, spread: float, factor: float = 1.0):
    """*bounds* with its centre moved by *centre_shift* then times *factor*, its width times *spread*."""
    centre, half = ((bounds[0] + bounds[1]) / 2.0 + centre_shift) * factor, (bounds[1] - bounds[0]) / 2.0 * spread
    return (round(centre - half, 2), round(centre + half, 2))


def estimate_style(samples: Sequence[np.ndarray]) -> DigitStyle:
    """The image size, pen width and slant (mean and spread) of real images, as DigitStyle knobs.

    Each is measured the same way on digits drawn with the default style, so only the difference from
    our default counts: pen width scales with ink coverage, the slant range moves with the mean shear
    of the second moments and widens with its spread. A knob that would leave its allowed range keeps
    the default.
    """
    if not samples:
        return DigitStyle()
    sizes = [max(s.shape) for s in samples]
    size = max(set(sizes), key=sizes.count)
    same = np.stack([s for s in samples if s.shape == (size, size)] or [np.zeros((size, size), np.uint8)])
    default = DigitStyle(image_size=size)
    reference = np.stack([render_digit(i % 10, item_rng(0, "calibration", i), default) for i in range(400)])
    real, ref = _shape_stats(same), _shape_stats(reference)
    width_factor = float(np.clip(real["ink"] / max(ref["ink"], 1e-9), 0.5, 2.0))
    shift = float(np.clip(real["slant"] - ref["slant"], -20.0, 20.0))
    # Never narrower than the default: variety helps a classifier more than a tight match. (Measured
    # on 5,000 real digits: a twin with a narrower slant range and an aspect range scaled to the real
    # inked boxes' width / height lost 1 point of TSTR, McNemar p = 0.01; the aspect alone 0.6 point.)
    spread = float(np.clip(real["slant_spread"] / max(ref["slant_spread"], 1e-9), 1.0, 2.0))
    style = default
    for knob, value in (
        ("stroke_width", _widened(default.stroke_width, 0.0, width_factor, width_factor)),
        ("slant", _widened(default.slant, shift, spread)),
    ):
        try:
            style = dataclasses.replace(style, **{knob: value})
        except ValueError:
            pass  # outside the knob's range: keep the default for it
    return style


class MnistSyntheticExporter(StagedExporter):
    """Writes recipe.yaml: exact for generated items (filtered or not), else a synthetic twin of the data.

    --save-media also writes preview<ext> (default .png), a contact sheet of what the recipe draws;
    --image-ext chooses that sheet's format and needs --save-media.
    """

    DEFAULT_IMAGE_EXT = ".png"
    PREVIEW_NAME = "preview"

    @classmethod
    def build_cmdline_parser(cls, **kwargs):
        parser = super().build_cmdline_parser(**kwargs)
        parser.add_argument("--seed", type=int, default=0, help="seed of a twin's recipe (default: %(default)s)")
        return parser

    def __init__(self, extractor, save_dir, *, seed: int = 0, **kwargs):
        super().__init__(extractor, save_dir, **kwargs)
        self._seed = seed

    @classmethod
    def owns(cls, name: str) -> bool:
        return name in (RECIPE_FILE, DATASET_META_FILE) or name.startswith(cls.PREVIEW_NAME + ".")

    def _apply_impl(self) -> None:
        check_image_ext_needs_media(self._image_ext, self._save_media, f"the preview sheet {self.PREVIEW_NAME}<ext>")
        check_destination(self._save_dir)
        ext = dotted(self._image_ext or self.DEFAULT_IMAGE_EXT)
        if self._save_media:
            pillow_format_for(ext)
        recipe = exact_recipe(self._extractor)
        kind = "exact: regenerates these items" if recipe else "a synthetic twin of the exported dataset"
        recipe = recipe or twin_recipe(self._extractor, self._seed)
        try:
            with staged_export(self._save_dir, self.owns) as staging:
                _write_recipe(osp.join(staging, RECIPE_FILE), recipe, kind)
                if self._save_dataset_meta:
                    save_meta_file(staging, label_categories(recipe.label_names))
                if self._save_media:
                    self._write_preview(osp.join(staging, self.PREVIEW_NAME + ext), recipe)
        except OSError as e:  # a full disk, a read-only folder: say where, not only errno
            raise DatasetExportError(f"export to '{self._save_dir}' failed: {e}") from e

    @staticmethod
    def _write_preview(path: str, recipe: Recipe) -> None:
        from .preview import collect_samples, contact_sheet

        size = recipe.style.image_size
        per_class, scale = min(10, max(1, 4096 // size)), 2 if size <= 64 else 1  # a sheet of a few MB at most
        samples = collect_samples(MnistSyntheticBase(recipe=recipe), per_class)
        contact_sheet(samples, recipe.label_names, per_class, scale).save(path)


def _write_recipe(path: str, recipe: Recipe, kind: str) -> None:
    """Write recipe.yaml and read it back: what we write must load as the same recipe, or the export fails."""
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# mnist_synthetic recipe ({kind})\n")
        yaml.safe_dump(recipe.to_mapping(), f, sort_keys=False, allow_unicode=True, width=120)
    try:
        same = load_recipe(path) == recipe
    except DatumaroError as e:
        raise DatasetExportError(f"mnist_synthetic: this dataset's recipe would not load back: {e}") from None
    if not same:
        raise DatasetExportError("mnist_synthetic: this dataset's recipe does not read back as written")
