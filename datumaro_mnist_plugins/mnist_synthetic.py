"""The ``mnist_synthetic`` format: a small recipe file whose items are generated MNIST-like digits.

Datumaro's glue only, read top to bottom: the extractor (items of a recipe), the importer (finding and
detecting recipes), the generator (``datum generate``) and the exporter (writing a recipe back). What
a recipe says, and how digits are drawn, lives in :mod:`datumaro_mnist_plugins.synthetic` (recipe,
strokes, twin, parallel, ...); the names users import from here are re-exported below.
"""

from __future__ import annotations

import copy
import functools
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetBase, DatasetItem
from datumaro.components.errors import DatasetExportError, DatasetImportError
from datumaro.components.format_detection import FormatDetectionConfidence, FormatDetectionContext
from datumaro.components.generator import DatasetGenerator
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image
from datumaro.util.meta_file_util import DATASET_META_FILE, save_meta_file

from .export import StagedExporter, check_destination, check_image_ext_needs_media, dotted, pillow_format_for
from .files import recover_interrupted_export
from .items import built_in_batches
from .labels import label_categories
from .transaction import staged_export
from .synthetic.digits import GeneratedPixels, SyntheticDigits
from .synthetic.parallel import WORKERS_ENV
from .synthetic.recipe import DEFAULT_SUBSETS, RECIPE_FILE, RECIPE_KEYS, RECIPE_SUFFIXES, Recipe, RecipeError
from .synthetic.recipe import SubsetSpec, format_ranges, load_recipe, parse_ranges, save_recipe
from .synthetic.twin import estimate_style, exact_recipe, twin_recipe

__all__ = [
    "MnistSyntheticBase", "MnistSyntheticImporter", "MnistSyntheticGenerator", "MnistSyntheticExporter",
    "Recipe", "RecipeError", "SubsetSpec", "SyntheticDigits", "GeneratedPixels", "load_recipe", "save_recipe",
    "format_ranges", "parse_ranges", "exact_recipe", "twin_recipe", "estimate_style",
    "DEFAULT_SUBSETS", "RECIPE_FILE", "RECIPE_KEYS", "RECIPE_SUFFIXES", "WORKERS_ENV",
]

# --- read: the items of a recipe -------------------------------------------------------------------------


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
        return self._digits.item(subset, int(id)) if self._digits.keeps(subset, int(id)) else None

    @property
    def is_stream(self) -> bool:
        return self._stream

# --- detect: recipe files and folders --------------------------------------------------------------------


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

# --- generate: `datum generate` writes MNIST files of generated digits ----------------------------------


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


# --- write: a recipe, exact for generated items, else a twin ---------------------------------------------


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
                save_recipe(osp.join(staging, RECIPE_FILE), recipe, kind)
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

