"""The ``mnist`` format: LeCun's IDX files, one images file and one labels file per subset.

    <subset>-images-idx3-ubyte[.gz|.xz|.bz2]   N x H x W uint8 pixels
    <subset>-labels-idx1-ubyte[.gz|.xz|.bz2]   N labels (255 = no label)
    <subset>-labels-idx2-int[.gz|.xz|.bz2]     QMNIST's N x 8 int32 extended labels (preferred if present)
    <subset>-meta.gz                          optional sidecar: item ids and/or per-item sizes
    labels.txt / dataset_meta.json            class names

``t10k`` is the subset ``test``. Either file may be missing: labels without images give items without
media, images without labels give items without annotations. Images are read a batch at a time, so
import is as cheap as building the items and streaming keeps memory flat.

Detect: every folder holding IDX files, up to 3 levels deep (idx_files.py), the whole MNIST family
(family.py, docs/family.md): several dataset folders become one dataset with prefixed subsets; EMNIST's
splits are chosen with the import option ``split``. Read: ``MnistBase`` builds the items of what
``IdxSubset`` (idx_subset.py) opened. Write: ``MnistExporter`` (options in layouts.py) hands each subset's
labels and pixels to ``IdxSubsetWriter``; QMNIST attributes of Labels become ``-labels-idx2-int``.
"""

from __future__ import annotations

import os.path as osp
import re
from typing import Callable, Dict, List, Optional

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.format_detection import FormatDetectionConfidence
from datumaro.components.importer import ImportContext
from datumaro.components.media import Image

from . import family, layouts
from .codecs import idx
from .export import IMAGES_DIR, DigitsExporter, SubsetWriter
from .extractor import DigitsBase, DigitsImporter
from .files import opens_one_export, recover_interrupted_export
from .idx_files import COMPRESSIONS, DATA_FILE, DATA_NAME, IMAGES_KIND, KINDS, SubsetFiles, dataset_folders, subset_files_of
from .idx_files import subsets_to_import
from .idx_subset import IdxSubset, IdxSubsetWriter
from .items import image_size, make_item, new_image
from .labels import NO_LABEL, label_categories, out_of_range, renumbered
from .sidecar import IDX_SIDECAR_SUFFIX
from .subset_names import SubsetFile

#: Datumaro keeps a level above MEDIUM, unnamed, "for when the detector is sure [...] via magic numbers".
_MAGIC_NUMBER_CONFIDENCE = FormatDetectionConfidence.MEDIUM + 10


# --- read: one subset ------------------------------------------------------------------------------------------


class MnistBase(DigitsBase):
    """One subset of an MNIST (IDX) dataset; *path* is its labels or images file.

    *label_names*, the categories of a dataset of several folders (the importer's), replaces this
    folder's own class names; labels are mapped to it by name. *split* is the importer's choice of
    EMNIST split: the file's name says which split it is. *subset_files* is what the importer found
    (the folder is scanned only when it is not given).
    """

    @opens_one_export
    def __init__(
        self,
        path: str,
        *,
        subset: Optional[str] = None,
        label_names: Optional[List[str]] = None,
        split: Optional[str] = None,
        stream: bool = False,
        ctx: Optional[ImportContext] = None,
        subset_files: Optional[SubsetFiles] = None,
    ):
        files = subset_files or subset_files_of(path)
        super().__init__(subset=subset or files.subset, stream=stream, ctx=ctx)
        own_names = family.label_names(files.folder, files.split)
        self._categories = label_categories(label_names if label_names is not None else own_names)
        self._data = data = IdxSubset(files)
        self._count, self._ids, self._labels = data.count, data.ids, data.labels
        if data.images is None:
            self._image_files = self._find_image_files(files.folder)
            if self._image_files is None and self._count:
                self._say_images_are_missing(
                    f"{files.labels}: no images file {files.prefix}-{IMAGES_KIND}[.gz|.xz|.bz2] beside it"
                )
        self._label_count, self._bad_labels = len(own_names), set()
        if self._labels is not None:
            self._ann_types.add(AnnotationType.label)
            self._bad_labels = out_of_range(self._labels, len(own_names))
            if label_names is not None:
                self._labels = renumbered(self._labels, own_names, label_names, files.labels)

    def _image(self, index: int) -> Optional[Image]:
        data = self._data
        if data.offsets is not None:
            pixels = data.pixels(index)
            return Image.from_numpy(data=pixels, size=data.sidecar.sizes[index]) if pixels is not None else None
        if data.images is not None:
            return new_image(data.pixels(index))  # its size is the array's, known without a copy
        return self._image_file(index)

    def _label(self, index: int) -> int:
        if self._labels is None:
            return NO_LABEL
        label = int(self._labels[index])
        if index in self._bad_labels:
            return self._bad_label(f"{self._data.files.labels}: item {index}", label, index, self._label_count)
        return label

    def _item_builder(self) -> Callable[[int], DatasetItem]:
        # the common cases inline (Python ints, one image per row): a method call per field costs 20%
        data = self._data
        labels = self._labels.tolist() if self._labels is not None and not self._bad_labels else None
        uniform = data.uniform
        shape = data.shape[1:] if uniform else None
        size = image_size(shape[::-1] if data.transposed else shape) if uniform else None  # one tuple for every image
        ids, subset, extended = self._ids, self._subset, data.extended  # QMNIST's columns: Label attributes
        first, end, batch = 0, 0, None

        def build(index: int) -> DatasetItem:
            nonlocal first, end, batch
            if uniform and not first <= index < end:
                first, end, batch = data.read_batch(index)
            return make_item(
                ids[index] if ids is not None else str(index),
                subset,
                labels[index] if labels is not None else self._label(index),
                new_image(batch[index - first], size) if uniform else self._image(index),
                label_attributes=family.qmnist_attributes(extended[index].tolist()) if extended is not None else None,
            )

        return build


# --- detect: the folders and their subsets ---------------------------------------------------------------------


class MnistImporter(DigitsImporter):
    """The MNIST family as IDX files: <subset>-images-idx3-ubyte[.gz] + <subset>-labels-idx1-ubyte[.gz], and
    Fashion-MNIST, KMNIST, EMNIST (import option --split), QMNIST, torchvision's download folders."""

    _MAX_DEPTH = 3

    @classmethod
    def build_cmdline_parser(cls, **kwargs):
        parser = super().build_cmdline_parser(**kwargs)
        parser.add_argument(
            "--split", help="the EMNIST split to import when a folder holds several (balanced, byclass, letters...)"
        )
        return parser

    @classmethod
    def detect(cls, context):
        # every subset, no split chosen: an EMNIST folder is MNIST data even before a split is picked
        sources = cls.find_sources(context.root_path)
        if not sources:
            context.fail("no MNIST-family IDX files (<subset>-images-idx3-ubyte, <subset>-labels-idx1-ubyte...)")
        try:
            idx.read_header(sources[0]["url"])
        except (idx.IdxFormatError, OSError):
            return cls.DETECT_CONFIDENCE
        # An IDX magic number: more than the MEDIUM of formats that match any text file (imagenet_txt takes
        # EMNIST's mapping files for its own).
        return _MAGIC_NUMBER_CONFIDENCE

    @classmethod
    def find_sources(cls, path: str) -> List[Dict]:
        """Every subset under *path*, whatever its EMNIST split."""
        path = osp.normpath(path)
        recover_interrupted_export(path)
        if osp.isfile(path):
            return [{"url": path, "format": MnistBase.NAME}] if DATA_FILE.match(osp.basename(path)) else []
        return [_source(files) for _, subsets in dataset_folders(path, cls._MAX_DEPTH) for files in subsets]

    @classmethod
    def find_sources_with_params(cls, path: str, split: Optional[str] = None, **extra_params) -> List[Dict]:
        """The subsets to import: of one EMNIST split per folder; prefixed and merged when several folders."""
        path = osp.normpath(path)
        if osp.isfile(path):
            return cls.find_sources(path)  # it recovers an interrupted export
        recover_interrupted_export(path)
        return [_source(files, **options) for files, options in subsets_to_import(path, split, cls._MAX_DEPTH)]


def _source(files: SubsetFiles, **options) -> Dict:
    """A subset to import; the extractor gets the files found (no second scan of the folder)."""
    return {"url": files.labels or files.images, "format": MnistBase.NAME, "options": {"subset_files": files, **options}}


# --- write ---------------------------------------------------------------------------------------------------


_OWNED_FILE = re.compile(rf"({DATA_NAME}|.+{IDX_SIDECAR_SUFFIX}|labels\.txt|dataset_meta\.json|{IMAGES_DIR})$")


class MnistExporter(DigitsExporter):
    """Writes valid IDX files (gzip by default), labels.txt, and a sidecar only when ids or sizes need one;
    or, with ``layout="torchvision"``, the raw files a ``torchvision.datasets`` class reads (see layouts.py)."""

    DEFAULT_COMPRESS_LEVEL = 6

    @classmethod
    def build_cmdline_parser(cls, **kwargs):
        parser = super().build_cmdline_parser(**kwargs)
        layouts.add_layout_options(parser, cls.DEFAULT_COMPRESS_LEVEL)
        return parser

    def __init__(
        self,
        extractor,
        save_dir,
        *,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        compression: Optional[str] = None,
        layout: str = "flat",
        torchvision_class: str = "MNIST",
        emnist_split: Optional[str] = None,
        **kwargs,
    ):
        super().__init__(extractor, save_dir, **kwargs)
        layouts.check_layout_options(compress_level, layout)
        self._compress_level = compress_level
        self._layout_options = (layout, compression, torchvision_class, emnist_split)
        self._layout = layouts.flat_layout(compression)  # the torchvision layout needs the subsets: later

    def check_before_writing(self) -> None:
        self._layout = layouts.chosen_layout(*self._layout_options, self._extractor, self._save_media)

    def data_folder(self, staging: str) -> str:
        return osp.join(staging, *self._layout.folder.split("/")) if self._layout.folder else staging

    def open_subset(self, staging: str, subset: str) -> SubsetWriter:
        return IdxSubsetWriter(staging, subset, self._compress_level, self._layout)

    @classmethod
    def owns(cls, name: str) -> bool:
        # not the torchvision class folders: a root holds several side by side (MNIST/ of a download, our
        # FashionMNIST/); an export replaces the one it writes and keeps the others
        return bool(_OWNED_FILE.match(name))

    @classmethod
    def subset_files(cls, subset: str) -> List[SubsetFile]:
        longest = max(COMPRESSIONS, key=len)  # whichever --compression: names fit and read back alike
        data = [SubsetFile(f"{family.prefix_of(subset)}-{kind}{longest}", "data") for kind in KINDS]
        return data + [SubsetFile(subset + IDX_SIDECAR_SUFFIX, "aux"), SubsetFile(subset, "folder")]

    @classmethod
    def subset_of_file(cls, name: str) -> Optional[str]:
        match = DATA_FILE.match(name)
        return family.parse_prefix(match["prefix"]).subset if match else None
