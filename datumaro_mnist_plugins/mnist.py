"""The ``mnist`` format: LeCun's IDX files, one images file and one labels file per subset.

    <subset>-images-idx3-ubyte[.gz|.xz|.bz2]   N x H x W uint8 pixels
    <subset>-labels-idx1-ubyte[.gz|.xz|.bz2]   N labels (255 = no label)
    <subset>-labels-idx2-int[.gz|.xz|.bz2]     QMNIST's N x 8 int32 extended labels (preferred if present)
    <subset>-meta.gz                          optional sidecar: item ids and/or per-item sizes
    labels.txt / dataset_meta.json            class names

``t10k`` is the subset ``test``. Either file may be missing: labels without images give items without
media, images without labels give items without annotations. Images are views of one array (a raw file
is memory-mapped), so import is as cheap as building the items, and streaming keeps memory flat.
A file held both raw and compressed (torchvision keeps both) is read once, raw.

The whole MNIST family opens (the differences are tables in ``family.py``): Fashion-MNIST and KMNIST
(MNIST's file names; class names from the files above, ``kmnist_classmap.csv`` or torchvision's folder
name), EMNIST (``emnist-<split>-<subset>-...``, transposed images read upright, class names from
``emnist-<split>-mapping.txt``) and QMNIST (``qmnist-<subset>-...``, ``xnist-...``; the extended
label columns become attributes of the item's Label, named in ``QMNIST_COLUMNS``).

Where the importer looks: the given folder and its subfolders up to 3 levels deep, every folder holding
IDX files, but not below such a folder. One dataset folder keeps its subset names (``train``, ``test``).
Several (torchvision's ``root/MNIST/raw``, ``root/FashionMNIST/raw``...) become one dataset whose subset
names are prefixed by the dataset folder (``MNIST-train``, ``FashionMNIST-test``) and whose categories
are every folder's class names, each name once (the digits of MNIST and QMNIST are the same classes).

EMNIST ships six splits in one folder, different classes over mostly the same images: one import reads
one split, chosen with the import option ``split`` (``Dataset.import_from(path, "mnist", split="letters")``);
a folder of several splits without it is an error listing them. The exporter writes the classic upright
layout, with ``-labels-idx2-int.gz`` too when items' Labels carry QMNIST attributes; ``layouts.py`` has
its other options (``--compression``, ``--layout torchvision``, ``--subset-map``, ``--label-values``).
"""

from __future__ import annotations

import array
import gzip
import logging as log
import os
import os.path as osp
import re
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem, SubsetBase
from datumaro.components.errors import DatasetExportError, DatasetImportError, InvalidAnnotationError
from datumaro.components.format_detection import FormatDetectionConfidence
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image

from . import family
from .codecs import idx, idx_payload
from .items import built_in_batches, image_size, new_image, subsets_side_by_side
from . import layouts
from .export import IMAGES_DIR, DigitsExporter, SubsetWriter
from .files import image_files_by_id, is_present, refuse_shared_subsets
from .items import MAX_ID_CHARS, make_item, subset_from_file
from .labels import NO_LABEL, label_categories, label_names_of
from .sidecar import Sidecar, SidecarCollector
from .subset_names import SubsetFile
from .files import opens_one_export, recover_interrupted_export

IMAGES_KIND = "images-idx3-ubyte"
LABELS_KIND = "labels-idx1-ubyte"
SIDECAR_SUFFIX = "-meta.gz"
_KINDS = (IMAGES_KIND, LABELS_KIND, family.EXTENDED_LABELS_KIND)
_DATA_FILE = re.compile(rf"^(?P<prefix>.+)-(?P<kind>{'|'.join(_KINDS)})(?P<compression>\.gz|\.xz|\.bz2)?$")
#: When a folder holds one file several ways (torchvision keeps raw and .gz), read the cheapest.
_COMPRESSION_PREFERENCE = ("", ".gz", ".xz", ".bz2")
#: When a subset has both labels files (QMNIST ships both), read the one that says more.
_LABELS_PREFERENCE = (family.EXTENDED_LABELS_KIND, LABELS_KIND)
#: Datumaro keeps a level above MEDIUM, unnamed, "for when the detector is sure [...] via magic numbers".
_MAGIC_NUMBER_CONFIDENCE = FormatDetectionConfidence.MEDIUM + 10
#: The built-in writes sidecar ids as 32-character strings; we do too whenever ids fit.
_SIDECAR_CHARS = 32
#: Images are read this many at a time (under 1 MB of 28x28 digits): what streaming holds at once.
_BATCH_ITEMS = 1024


@dataclass
class SubsetFiles:
    """The files of one subset in a folder."""

    folder: str
    prefix: str
    images: Optional[str] = None
    labels: Optional[str] = None

    @property
    def subset(self) -> str:
        return subset_from_file(self.labels or self.images or self.prefix, family.parse_prefix(self.prefix).subset)

    @property
    def split(self) -> Optional[str]:
        """The EMNIST split, or None."""
        return family.parse_prefix(self.prefix).split

    @property
    def transposed(self) -> bool:
        return family.parse_prefix(self.prefix).transposed

    @property
    def sidecar(self) -> Optional[str]:
        path = osp.join(self.folder, family.subset_of(self.prefix) + SIDECAR_SUFFIX)
        return path if is_present(path) else None


def find_subsets(folder: str) -> List[SubsetFiles]:
    """The subsets whose IDX files are in *folder*, each file picked once whatever its compression."""
    choices: Dict[str, Dict[str, List[str]]] = {}
    for name in sorted(os.listdir(folder)):
        match = _DATA_FILE.match(name)
        if match and is_present(osp.join(folder, name)):  # a directory or FIFO named so is an error
            kinds = choices.setdefault(match["prefix"], {})
            kinds.setdefault(match["kind"], []).append(name)
    subsets = []
    for prefix, kinds in choices.items():
        best = {
            kind: osp.join(folder, min(names, key=lambda n: _COMPRESSION_PREFERENCE.index(idx.compression_of(n))))
            for kind, names in kinds.items()
        }
        labels = next((best[kind] for kind in _LABELS_PREFERENCE if kind in best), None)
        subsets.append(SubsetFiles(folder, prefix, images=best.get(IMAGES_KIND), labels=labels))
    return subsets


def _import_error(error: idx.IdxFormatError) -> DatasetImportError:
    wrapped = DatasetImportError(str(error))
    wrapped.__cause__ = error
    return wrapped


def read_sidecar(path: str, count: int) -> Sidecar:
    """Read ``<subset>-meta.gz``: a gzipped flat array of fixed-width UTF-32 strings, one row per item.

    The built-in writes 32-character cells. Longer ids need wider cells, and the file does not say
    how wide, so we write those with a prime cell width: a row of 1, 2 or 3 cells of prime width p
    is p, 2p or 3p characters, which no 32-character layout (a multiple of 32) and no other
    column count can produce. See :func:`write_sidecar`.
    """
    if count == 0:
        return Sidecar()
    limit = count * 3 * 4 * _MAX_CELL_CHARS + 1  # more than any sidecar of *count* rows we write
    raw = bytearray()
    try:
        with gzip.open(path, "rb") as f:
            # in chunks: f.read(limit) would allocate the whole limit up front
            while len(raw) < limit:
                chunk = f.read(min(1 << 20, limit - len(raw)))
                if not chunk:
                    break
                raw += chunk
    except (OSError, EOFError, zlib.error) as e:
        # `from None`: Datumaro's import_from reports an error's cause *instead of* the error, losing our message
        raise DatasetImportError(f"{path}: sidecar is not a readable gzip file ({e})") from None
    if len(raw) % (count * 4):
        raise DatasetImportError(f"{path}: sidecar size {len(raw)} bytes does not divide into {count} rows")
    row_chars = len(raw) // (count * 4)
    layout = _sidecar_layout(row_chars)
    if layout is None:
        raise DatasetImportError(f"{path}: sidecar rows of {row_chars} characters are not [id], [h, w] or [id, h, w]")
    chars, cols = layout
    code_points = np.frombuffer(raw, dtype="<u4")
    bad = np.flatnonzero((code_points > 0x10FFFF) | ((code_points >= 0xD800) & (code_points < 0xE000)))
    if bad.size:  # numpy would raise a SystemError turning such cells into str
        raise DatasetImportError(f"{path}: sidecar is not UTF-32 text (bad code point at byte {bad[0] * 4})")
    cells = np.frombuffer(raw, dtype=f"<U{chars}").reshape(count, cols)
    return Sidecar.from_rows(path, cells.tolist())


def _sidecar_layout(row_chars: int) -> Optional[tuple]:
    """(cell width, column count) of sidecar rows *row_chars* characters long."""
    if row_chars in (_SIDECAR_CHARS, 2 * _SIDECAR_CHARS, 3 * _SIDECAR_CHARS):
        return _SIDECAR_CHARS, row_chars // _SIDECAR_CHARS
    for cols in (1, 2, 3):
        if row_chars % cols == 0 and _is_prime(row_chars // cols) and row_chars // cols > _SIDECAR_CHARS:
            return row_chars // cols, cols
    return None


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def _prime_at_least(n: int) -> int:
    while not _is_prime(n):
        n += 1
    return n


#: The widest cell we write: the longest id the id rule allows, in the prime width it needs.
_MAX_CELL_CHARS = _prime_at_least(MAX_ID_CHARS)


def write_sidecar(path: str, sidecar: Sidecar) -> None:
    rows = sidecar.rows()
    chars = max((len(cell) for row in rows for cell in row), default=0)
    # the built-in's layout, which it can read too, or the prime width that tells longer ids apart
    chars = _SIDECAR_CHARS if chars <= _SIDECAR_CHARS else _prime_at_least(chars)
    # in blocks of ~16 MB: one long id widens every row's cells
    block = max(1, (16 << 20) // (4 * chars * max(1, len(rows[0]) if rows else 1)))
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for start in range(0, len(rows), block):
            f.write(np.array(rows[start : start + block], dtype=f"<U{chars}").tobytes())


class MnistBase(SubsetBase):
    """One subset of an MNIST (IDX) dataset; *path* is its labels or images file.

    *label_names*, the categories of a dataset of several folders (the importer's), replaces this
    folder's own class names; labels are mapped to it by name. *split* is the importer's choice of
    EMNIST split: the file's name says which split it is.
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
    ):
        match = _DATA_FILE.match(osp.basename(path))
        if not osp.isfile(path) or not match:
            raise DatasetImportError(f"{path}: not an MNIST images or labels file")
        folder = osp.dirname(osp.abspath(path))
        files = next(f for f in find_subsets(folder) if f.prefix == match["prefix"])
        super().__init__(subset=subset or files.subset, ctx=ctx)
        self._stream = stream
        own_names = family.label_names(folder, files.split)
        self._categories = label_categories(label_names if label_names is not None else own_names)

        self._labels, self._extended = self._read_labels(files.labels)
        count = len(self._labels) if self._labels is not None else None
        sidecar_count = count
        if sidecar_count is None and files.images and files.sidecar:
            sidecar_count = self._header_count(files.images)
        self._sidecar = read_sidecar(files.sidecar, sidecar_count) if files.sidecar and sidecar_count else Sidecar()
        self._images, self._shape, self._offsets = self._read_images(files, count)
        if count is None:
            count = len(self._offsets) - 1 if self._offsets is not None else self._shape[0]
        self._count = count
        self._transposed = files.transposed and self._offsets is None  # EMNIST items come out upright
        self._batch: Tuple[int, int, Optional[np.ndarray]] = (0, 0, None)  # first, end, the images read
        self._ids = self._sidecar.ids
        if self._ids is not None and len(self._ids) != count:
            raise DatasetImportError(f"{files.sidecar}: {len(self._ids)} ids for {count} items")
        self._image_files = None
        if self._images is None:
            image_dir = osp.join(folder, IMAGES_DIR, files.subset)
            self._image_files = image_files_by_id(image_dir) if osp.isdir(image_dir) else None
            if self._image_files is None and count:
                self._say_images_are_missing(files, count)
        if self._labels is not None:
            self._ann_types.add(AnnotationType.label)
            self._check_labels(files.labels, own_names)
            if label_names is not None:
                self._labels = self._renumbered(own_names, label_names)

    def _say_images_are_missing(self, files: SubsetFiles, count: int) -> None:
        """One warning at import, instead of one per item from every Datumaro command that looks at images."""
        log.warning(
            "%s: no images file %s-%s[.gz|.xz|.bz2] beside it: its %d items have no image",
            files.labels, files.prefix, IMAGES_KIND, count,
        )
        # Datumaro's image statistics warn once per item without media (`datum stats`: 2 lines per item)
        warnings.filterwarnings(
            "ignore", rf"item \(id: .*, subset: {re.escape(self._subset)}\) has media_type, None but only Image"
        )

    @staticmethod
    def _header_count(path: str) -> int:
        """The image count of an images file, checked against the data when its images have a size:
        a header count is not a size to trust (the sidecar's read is bounded by it)."""
        try:
            _, shape = idx.read_header(path)
            if len(shape) == 3 and shape[1] * shape[2]:
                idx_payload.open_payload(path)[0].close()  # raises unless the file holds those images
            return shape[0]
        except (idx.IdxFormatError, IndexError) as e:
            raise DatasetImportError(f"{path}: not an IDX images file ({e})") from None

    @staticmethod
    def _read_labels(path: Optional[str]):
        """The class of each item, and QMNIST's extended columns 1..7 when the file has them."""
        if not path:
            return None, None
        try:
            labels = idx.read_idx(path)
        except idx.IdxFormatError as e:
            raise _import_error(e) from e
        if _DATA_FILE.match(osp.basename(path))["kind"] == family.EXTENDED_LABELS_KIND:
            if labels.ndim != 2 or labels.shape[1] != family.QMNIST_WIDTH or labels.dtype.kind not in "iu":
                raise DatasetImportError(
                    f"{path}: QMNIST extended labels are N x {family.QMNIST_WIDTH} integers, "
                    f"not {labels.dtype} {labels.shape}"
                )
            return labels[:, 0].astype(np.int64), labels[:, 1:].astype(np.int64)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DatasetImportError(f"{path}: a labels file holds one integer per item, not {labels.dtype} {labels.shape}")
        return labels.astype(np.int64), None

    def _read_images(self, files: SubsetFiles, count: Optional[int]):
        """The pixels (read a batch at a time), the images' shape and, for mixed sizes, each item's offset."""
        if not files.images:
            return None, None, None
        sizes = self._sidecar.sizes
        try:
            if sizes is None:
                builtin = self._builtin_pixel_count(files.images, count)
                payload, shape = idx_payload.open_payload(files.images, flat_count=builtin)
                if builtin is not None:
                    shape = (count, *idx.read_header(files.images)[1][1:])
            else:
                # the file must hold the sizes' total (a Python int: no overflow) before numpy sums them
                payload, shape = idx_payload.open_payload(files.images, flat_count=sum(h * w for h, w in sizes))
                offsets = np.concatenate([[0], np.cumsum([h * w for h, w in sizes], dtype=np.int64)])
        except idx.IdxFormatError as e:
            raise _import_error(e) from e
        if sizes is None:
            if len(shape) != 3:
                raise DatasetImportError(f"{files.images}: an images file holds N x H x W values, not {shape}")
            if shape[0] and not shape[1] * shape[2]:
                raise DatasetImportError(
                    f"{files.images}: images of {shape[1]}x{shape[2]} pixels need the sizes "
                    f"sidecar {family.subset_of(files.prefix)}{SIDECAR_SUFFIX}, which is missing"
                )
            if count is not None and shape[0] != count:
                raise DatasetImportError(f"{files.images}: {shape[0]} images but {files.labels} has {count} labels")
            return payload, shape, None
        if count is not None and len(sizes) != count:
            raise DatasetImportError(f"{files.sidecar}: {len(sizes)} sizes for {count} items")
        return payload, None, offsets

    @staticmethod
    def _builtin_pixel_count(path: str, count: Optional[int]) -> Optional[int]:
        """Datumaro's built-in exporter writes the pixel count where IDX wants the image count.

        Such a file (N*H*W, H, W with N labels) is read as the N images it holds.
        """
        if count is None:
            return None
        _, shape = idx.read_header(path)
        if len(shape) == 3 and shape[0] != count and shape[0] == count * shape[1] * shape[2]:
            return shape[0]
        return None

    def _check_labels(self, path: str, names: List[str]) -> None:
        self._label_count = len(names)
        bad = np.flatnonzero(((self._labels < 0) | (self._labels >= len(names))) & (self._labels != NO_LABEL))
        self._bad_labels = set(bad.tolist())
        self._labels_path = path

    def _renumbered(self, own: List[str], merged: List[str]) -> np.ndarray:
        """Labels as indices into *merged*; bad labels and NO_LABEL are left for _label() to handle."""
        position = {name: i for i, name in enumerate(merged)}
        missing = [name for name in own if name not in position]
        if missing:
            raise DatasetImportError(f"{self._labels_path}: classes {missing} are not in the dataset's categories")
        if not own:
            return self._labels
        index_of = np.array([position[name] for name in own], dtype=np.int64)
        valid = (self._labels >= 0) & (self._labels < len(own))
        return np.where(valid, index_of[np.where(valid, self._labels, 0)], self._labels)

    def _item_id(self, index: int) -> str:
        return self._ids[index] if self._ids is not None else str(index)

    def _read_batch(self, index: int) -> Tuple[int, int, np.ndarray]:
        """(first, end, pixels) of up to _BATCH_ITEMS items from *index*: an images array, or flat for mixed sizes.

        Batches are arrays of our own (see idx_payload): a file changed under us is an error, not a crash.
        """
        first, end = index, min(index + _BATCH_ITEMS, self._count)
        try:
            if self._offsets is None:
                h, w = self._shape[1:]
                batch = self._images.read(first * h * w, (end - first) * h * w).reshape(end - first, h, w)
                return first, end, batch.transpose(0, 2, 1) if self._transposed else batch
            start = int(self._offsets[first])
            return first, end, self._images.read(start, int(self._offsets[end]) - start)
        except idx.IdxFormatError as e:
            raise _import_error(e) from None

    def _pixels(self, index: int) -> np.ndarray:
        """Item *index*'s pixels, from the batch read with it."""
        first, end, batch = self._batch
        if not first <= index < end:
            first, end, batch = self._batch = self._read_batch(index)
        if self._offsets is None:
            return batch[index - first]
        start = int(self._offsets[index] - self._offsets[first])
        h, w = self._sidecar.sizes[index]
        return batch[start : start + h * w].reshape(h, w)

    def _image(self, index: int) -> Optional[Image]:
        if self._offsets is not None:
            h, _ = self._sidecar.sizes[index]
            return Image.from_numpy(data=self._pixels(index), size=self._sidecar.sizes[index]) if h else None
        if self._images is not None:
            return new_image(self._pixels(index))  # its size is the array's, known without a copy
        if self._image_files is not None:
            path = self._image_files.get(self._item_id(index))
            return Image.from_file(path=path) if path else None
        return None

    def _label(self, index: int) -> int:
        if self._labels is None:
            return NO_LABEL
        label = int(self._labels[index])
        if index in self._bad_labels:
            error = InvalidAnnotationError(
                f"{self._labels_path}: item {index}: label {label} is not one of the "
                f"{self._label_count} categories (labels.txt / dataset_meta.json)"
            )
            self._ctx.error_policy.report_annotation_error(error, item_id=(self._item_id(index), self._subset))
            return NO_LABEL
        return label

    def _label_attributes(self, index: int) -> Optional[dict]:
        """QMNIST's extended columns, by name."""
        return family.qmnist_attributes(self._extended[index].tolist()) if self._extended is not None else None

    def __iter__(self) -> Iterator[DatasetItem]:
        # the common cases inline (Python ints, one image per row): a method call per field costs 20%
        labels = self._labels.tolist() if self._labels is not None and not self._bad_labels else None
        uniform = self._images is not None and self._offsets is None
        shape = self._shape[1:] if uniform else None
        size = image_size(shape[::-1] if self._transposed else shape) if uniform else None  # one tuple for every image
        ids, subset, extended = self._ids, self._subset, self._extended is not None
        first, end, batch = 0, 0, None

        def build(index: int) -> DatasetItem:
            nonlocal first, end, batch
            if uniform and not first <= index < end:
                first, end, batch = self._read_batch(index)
            return make_item(
                ids[index] if ids is not None else str(index),
                subset,
                labels[index] if labels is not None else self._label(index),
                new_image(batch[index - first], size) if uniform else self._image(index),
                label_attributes=self._label_attributes(index) if extended else None,
            )

        indices = self._ctx.progress_reporter.iter(range(self._count), total=self._count, desc=f"Importing '{subset}'")
        yield from built_in_batches(build, indices)

    def __len__(self) -> int:
        return self._count

    @property
    def is_stream(self) -> bool:
        return self._stream


class MnistImporter(Importer):
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
            return [{"url": path, "format": MnistBase.NAME}] if _DATA_FILE.match(osp.basename(path)) else []
        return [_source(files) for _, subsets in _dataset_folders(path, cls._MAX_DEPTH) for files in subsets]

    @classmethod
    def find_sources_with_params(cls, path: str, split: Optional[str] = None, **extra_params) -> List[Dict]:
        """The subsets to import: of one EMNIST split per folder; prefixed and merged when several folders."""
        path = osp.normpath(path)
        recover_interrupted_export(path)
        if osp.isfile(path):
            return cls.find_sources(path)
        found = _dataset_folders(path, cls._MAX_DEPTH)
        chosen = [(folder, _of_split(folder, subsets, split)) for folder, subsets in found]
        chosen = [(folder, subsets) for folder, subsets in chosen if subsets]
        if split is not None and not any(files.split == split for _, subsets in chosen for files in subsets):
            splits = sorted({files.split for _, subsets in found for files in subsets if files.split})
            raise DatasetImportError(
                f"{path}: no EMNIST split '{split}' here (EMNIST splits found: {', '.join(splits) or 'none'})"
            )
        if len(chosen) <= 1:
            refuse_shared_subsets((files.subset, files.labels or files.images) for _, subsets in chosen for files in subsets)
            return [_source(files) for _, subsets in chosen for files in subsets]
        names = family.merged_names([family.label_names(folder, _split_of(subsets)) for folder, subsets in chosen])
        named = [
            (f"{family.dataset_name(path, folder)}-{files.subset}", files) for folder, subsets in chosen for files in subsets
        ]
        refuse_shared_subsets((subset, files.labels or files.images) for subset, files in named)
        return [_source(files, subset=subset, label_names=names) for subset, files in named]

    @classmethod
    def get_file_extensions(cls) -> List[str]:
        return [".gz", ".xz", ".bz2", ""]

    @property
    def can_stream(self) -> bool:
        return True

    def get_extractor_merger(self):
        return subsets_side_by_side  # subsets read one after the other, not merged item by item


def _source(files: SubsetFiles, **options) -> Dict:
    source = {"url": files.labels or files.images, "format": MnistBase.NAME}
    if options:
        source["options"] = options
    return source


def _split_of(subsets: List[SubsetFiles]) -> Optional[str]:
    return next((files.split for files in subsets if files.split), None)


def _of_split(folder: str, subsets: List[SubsetFiles], split: Optional[str]) -> List[SubsetFiles]:
    """The subsets of *folder* to import: its MNIST-named ones, and those of one EMNIST split."""
    splits = sorted({files.split for files in subsets if files.split})
    if split is None and len(splits) > 1:
        raise DatasetImportError(
            f"{folder}: holds the EMNIST splits {', '.join(splits)}, each with its own classes; import one with "
            f"the import option split (Dataset.import_from(path, 'mnist', split='{splits[0]}')), "
            "or (the datum CLI passes no import options) point at a folder or a file of one split"
        )
    wanted = split if split is not None else (splits[0] if splits else None)
    return [files for files in subsets if files.split in (None, wanted)]


def _dataset_folders(root: str, max_depth: int) -> List[Tuple[str, List[SubsetFiles]]]:
    """Folders under *root* (itself included) that hold IDX files, breadth first, with their subsets.

    A folder with IDX files is a dataset: its subfolders are not searched (its ``images/`` folder, a
    copy of it one level down).
    """
    found = []
    level = [root]
    for _ in range(max_depth + 1):
        next_level = []
        for folder in level:
            try:
                if folder != root:
                    recover_interrupted_export(folder)  # the root's was, by the caller
                subsets = find_subsets(folder)
                if subsets:
                    found.append((folder, subsets))
                    continue
                next_level += sorted(e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
            except OSError:
                continue
        level = next_level
    return found


class _IdxSubsetWriter(SubsetWriter):
    """Labels in memory, pixels streamed to a temporary raw file, IDX files written at the end."""

    def __init__(self, staging: str, subset: str, compress_level: int, layout: layouts.Layout):
        self._staging = staging
        self._subset = subset
        self._layout = layout
        self._prefix = layout.prefixes[subset] if layout.prefixes is not None else family.prefix_of(subset)
        self._compress_level = compress_level
        self._labels = bytearray()
        self._payload = tempfile.TemporaryFile(dir=staging)
        self._pixels_written = 0
        self._batch: List[np.ndarray] = []  # images not yet in the payload file: one write per image is slow
        self._batch_bytes = 0
        #: QMNIST's extended columns 1..7 of every item, written as -labels-idx2-int when any item has them
        self._extended = array.array("i")
        self._has_extended = False

    def add(self, label: int, pixels: Optional[np.ndarray]) -> None:
        self._labels.append(label)
        if pixels is not None:
            pixels = np.ascontiguousarray(pixels.T if self._layout.transposed else pixels)
            self._batch.append(pixels)
            self._batch_bytes += pixels.nbytes
            self._pixels_written += 1
            if self._batch_bytes >= 1 << 20:
                self._write_batch()

    def _write_batch(self) -> None:
        self._payload.write(b"".join(self._batch))
        self._batch.clear()
        self._batch_bytes = 0

    def add_label_attributes(self, attributes: dict, describe: Callable[[], str]) -> None:
        values = family.qmnist_values(attributes, describe) if attributes else None
        self._has_extended |= values is not None
        self._extended.extend(values or family.QMNIST_ABSENT)

    def finish(self, collector: SidecarCollector) -> None:
        count = len(self._labels)
        has_images = self._pixels_written > 0
        labels = np.frombuffer(bytes(self._labels), dtype=np.uint8)
        layouts.check_complete(self._layout, self._subset, labels, collector)
        suffix = self._layout.suffix
        labels_path = osp.join(self._staging, f"{self._prefix}-{LABELS_KIND}{suffix}")
        idx.write_idx(labels_path, labels, compress_level=self._compress_level)
        if self._has_extended or self._layout.extended_labels:
            extended = np.frombuffer(self._extended, dtype=np.intc).reshape(count, family.QMNIST_WIDTH - 1)
            idx.write_idx(
                osp.join(self._staging, f"{self._prefix}-{family.EXTENDED_LABELS_KIND}{suffix}"),
                np.column_stack([labels.astype(np.int32), extended]).astype(np.int32),
                compress_level=self._compress_level,
            )
        if has_images:
            size = collector.uniform_size
            if size and self._layout.transposed:
                size = size[::-1]
            # A valid IDX3 when all images share a size; mixed sizes live in the sidecar (dims 0 x 0).
            shape = (count, *size) if size else (count, 0, 0)
            self._write_batch()
            self._payload.seek(0)
            idx.write_idx_from_stream(
                osp.join(self._staging, f"{self._prefix}-{IMAGES_KIND}{suffix}"),
                np.dtype(np.uint8),
                shape,
                self._payload,
                compress_level=self._compress_level,
            )
        sidecar = collector.sidecar(has_images)
        if sidecar:  # named as the importer looks for it: after the prefix's subset
            name = family.subset_of(self._prefix) if self._layout.prefixes is not None else self._subset
            write_sidecar(osp.join(self._staging, name + SIDECAR_SUFFIX), sidecar)

    def close(self) -> None:
        self._payload.close()


_OWNED_FILE = re.compile(rf"(.+-({'|'.join(_KINDS)})(\.gz|\.xz|\.bz2)?|.+{SIDECAR_SUFFIX}|labels\.txt|dataset_meta\.json|{IMAGES_DIR})$")


class MnistExporter(DigitsExporter):
    """Writes valid IDX files (gzip by default), labels.txt, and a sidecar only when ids or sizes need one;
    or, with ``layout="torchvision"``, the raw files a ``torchvision.datasets`` class reads (see layouts.py)."""

    DEFAULT_COMPRESS_LEVEL = 6

    @classmethod
    def build_cmdline_parser(cls, **kwargs):
        parser = super().build_cmdline_parser(**kwargs)
        parser.add_argument(
            "--compress-level",
            type=int,
            choices=range(10),
            default=cls.DEFAULT_COMPRESS_LEVEL,
            metavar="0-9",
            help="compression level of the IDX files (default: %(default)s)",
        )
        layouts.add_layout_options(parser)
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
        if compress_level not in range(10):
            raise DatasetExportError(f"compress_level must be 0..9, not {compress_level}")
        if layout not in layouts.LAYOUTS:
            raise DatasetExportError(f"--layout '{layout}' is not one of {', '.join(layouts.LAYOUTS)}")
        self._compress_level = compress_level
        self._layout_options = (layout, compression, torchvision_class, emnist_split)
        self._layout = layouts.flat_layout(compression)  # the torchvision layout needs the subsets: later

    def check_before_writing(self) -> None:
        layout, compression, torchvision_class, emnist_split = self._layout_options
        if layout == "torchvision":
            if not self._save_media:
                raise DatasetExportError("--layout torchvision writes the images torchvision reads: add --save-media")
            subsets = self._extractor.subsets()
            self._layout = layouts.torchvision_layout(torchvision_class, emnist_split, compression, subsets)
            layouts.warn_about_class_names(torchvision_class, emnist_split, label_names_of(self._extractor))

    def data_folder(self, staging: str) -> str:
        return osp.join(staging, *self._layout.folder.split("/")) if self._layout.folder else staging

    def open_subset(self, staging: str, subset: str) -> SubsetWriter:
        return _IdxSubsetWriter(staging, subset, self._compress_level, self._layout)

    @classmethod
    def owns(cls, name: str) -> bool:
        # not the torchvision class folders: a root holds several side by side (MNIST/ of a download, our
        # FashionMNIST/); an export replaces the one it writes and keeps the others
        return bool(_OWNED_FILE.match(name))

    @classmethod
    def subset_files(cls, subset: str) -> List[SubsetFile]:
        longest = max(_COMPRESSION_PREFERENCE, key=len)  # whichever --compression: names fit and read back alike
        data = [SubsetFile(f"{family.prefix_of(subset)}-{kind}{longest}", "data") for kind in _KINDS]
        return data + [SubsetFile(subset + SIDECAR_SUFFIX, "aux"), SubsetFile(subset, "folder")]

    @classmethod
    def subset_of_file(cls, name: str) -> Optional[str]:
        match = _DATA_FILE.match(name)
        return family.parse_prefix(match["prefix"]).subset if match else None
