"""The ``mnist`` format: LeCun's IDX files, one images file and one labels file per subset.

    <subset>-images-idx3-ubyte[.gz|.xz|.bz2]   N x H x W uint8 pixels
    <subset>-labels-idx1-ubyte[.gz|.xz|.bz2]   N labels (255 = no label)
    <subset>-meta.gz                          optional sidecar: item ids and/or per-item sizes
    labels.txt / dataset_meta.json            class names

``t10k`` is the subset ``test``. Either file may be missing: labels without images give items without
media, images without labels give items without annotations. Images are views of one array (a raw file
is memory-mapped), so import is as cheap as building the items, and streaming keeps memory flat.
"""

from __future__ import annotations

import gzip
import os
import os.path as osp
import re
import tempfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

import numpy as np

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem, SubsetBase
from datumaro.components.errors import DatasetExportError, DatasetImportError, InvalidAnnotationError
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image

from . import idx
from ._common import (
    IMAGES_DIR,
    MNIST_SIDE,
    NO_LABEL,
    DigitsExporter,
    Sidecar,
    SidecarCollector,
    SubsetWriter,
    image_files_by_id,
    label_categories,
    load_label_names,
    make_item,
)

IMAGES_KIND = "images-idx3-ubyte"
LABELS_KIND = "labels-idx1-ubyte"
SIDECAR_SUFFIX = "-meta.gz"
#: MNIST calls its test subset "t10k" in file names.
TEST_PREFIX = "t10k"
_DATA_FILE = re.compile(rf"^(?P<prefix>.+)-(?P<kind>{IMAGES_KIND}|{LABELS_KIND})(?P<compression>\.gz|\.xz|\.bz2)?$")
#: When a folder holds one file several ways (torchvision keeps raw and .gz), read the cheapest.
_COMPRESSION_PREFERENCE = ("", ".gz", ".xz", ".bz2")
#: The built-in writes sidecar ids as 32-character strings; we do too whenever ids fit.
_SIDECAR_CHARS = 32


def subset_of(prefix: str) -> str:
    return "test" if prefix == TEST_PREFIX else prefix


def prefix_of(subset: str) -> str:
    return TEST_PREFIX if subset == "test" else subset


@dataclass
class SubsetFiles:
    """The files of one subset in a folder."""

    folder: str
    prefix: str
    images: Optional[str] = None
    labels: Optional[str] = None

    @property
    def subset(self) -> str:
        return subset_of(self.prefix)

    @property
    def sidecar(self) -> Optional[str]:
        path = osp.join(self.folder, self.subset + SIDECAR_SUFFIX)
        return path if osp.isfile(path) else None


def find_subsets(folder: str) -> List[SubsetFiles]:
    """The subsets whose IDX files are in *folder*, each file picked once whatever its compression."""
    choices: Dict[str, Dict[str, List[str]]] = {}
    for name in sorted(os.listdir(folder)):
        match = _DATA_FILE.match(name)
        if match and osp.isfile(osp.join(folder, name)):
            kinds = choices.setdefault(match["prefix"], {})
            kinds.setdefault(match["kind"], []).append(name)
    subsets = []
    for prefix, kinds in choices.items():
        files = SubsetFiles(folder, prefix)
        for kind, names in kinds.items():
            best = min(names, key=lambda n: _COMPRESSION_PREFERENCE.index(idx.compression_of(n)))
            setattr(files, "images" if kind == IMAGES_KIND else "labels", osp.join(folder, best))
        subsets.append(files)
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
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read(count * 3 * 4 * 4099 + 1)  # more than any sidecar of *count* rows we read
    except (OSError, EOFError) as e:
        raise DatasetImportError(f"{path}: sidecar is not a readable gzip file ({e})") from e
    if len(raw) % (count * 4):
        raise DatasetImportError(f"{path}: sidecar size {len(raw)} bytes does not divide into {count} rows")
    row_chars = len(raw) // (count * 4)
    layout = _sidecar_layout(row_chars)
    if layout is None:
        raise DatasetImportError(f"{path}: sidecar rows of {row_chars} characters are not [id], [h, w] or [id, h, w]")
    chars, cols = layout
    try:
        cells = np.frombuffer(raw, dtype=f"<U{chars}").reshape(count, cols)
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetImportError(f"{path}: sidecar is not UTF-32 text ({e})") from e
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


def write_sidecar(path: str, sidecar: Sidecar) -> None:
    rows = sidecar.rows()
    chars = max((len(cell) for row in rows for cell in row), default=0)
    if chars <= _SIDECAR_CHARS:
        chars = _SIDECAR_CHARS  # the built-in's layout, which it can read too
    else:
        while not _is_prime(chars):
            chars += 1
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(np.array(rows, dtype=f"<U{chars}").tobytes())


class MnistBase(SubsetBase):
    """One subset of an MNIST (IDX) dataset; *path* is its labels or images file."""

    def __init__(
        self,
        path: str,
        *,
        subset: Optional[str] = None,
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
        self._categories = label_categories(load_label_names(folder))

        self._labels = self._read_labels(files.labels)
        count = len(self._labels) if self._labels is not None else None
        sidecar_count = count
        if sidecar_count is None and files.images:
            sidecar_count = self._header_count(files.images)
        self._sidecar = read_sidecar(files.sidecar, sidecar_count) if files.sidecar and sidecar_count else Sidecar()
        self._images, self._offsets = self._read_images(files, count)
        if count is None:
            count = len(self._offsets) - 1 if self._offsets is not None else len(self._images)
        self._count = count
        self._ids = self._sidecar.ids
        if self._ids is not None and len(self._ids) != count:
            raise DatasetImportError(f"{files.sidecar}: {len(self._ids)} ids for {count} items")
        self._image_files = None
        if self._images is None:
            image_dir = osp.join(folder, IMAGES_DIR, self._subset)
            self._image_files = image_files_by_id(image_dir) if osp.isdir(image_dir) else None
        if self._labels is not None:
            self._ann_types.add(AnnotationType.label)
            self._check_labels(files.labels)

    @staticmethod
    def _header_count(path: str) -> int:
        try:
            return idx.read_header(path)[1][0]
        except (idx.IdxFormatError, IndexError) as e:
            raise DatasetImportError(f"{path}: not an IDX images file ({e})") from e

    @staticmethod
    def _read_labels(path: Optional[str]) -> Optional[np.ndarray]:
        if not path:
            return None
        try:
            labels = idx.read_idx(path, mmap=False)
        except idx.IdxFormatError as e:
            raise _import_error(e) from e
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DatasetImportError(f"{path}: a labels file holds one integer per item, not {labels.dtype} {labels.shape}")
        return labels.astype(np.int64)

    def _read_images(self, files: SubsetFiles, count: Optional[int]):
        """The pixel array and, for images of mixed sizes, each item's offset into it."""
        if not files.images:
            return None, None
        sizes = self._sidecar.sizes
        try:
            if sizes is None:
                images = idx.read_idx(files.images, flat_count=self._builtin_pixel_count(files.images, count))
                if images.ndim == 1:
                    images = images.reshape(count, *idx.read_header(files.images)[1][1:])
            else:
                offsets = np.concatenate([[0], np.cumsum([h * w for h, w in sizes], dtype=np.int64)])
                images = idx.read_idx(files.images, flat_count=int(offsets[-1]))
        except idx.IdxFormatError as e:
            raise _import_error(e) from e
        if images.dtype.itemsize > 1:
            images = images.astype(images.dtype.newbyteorder("="))
        if sizes is None:
            if images.ndim != 3:
                raise DatasetImportError(f"{files.images}: an images file holds N x H x W values, not {images.shape}")
            if count is not None and len(images) != count:
                raise DatasetImportError(
                    f"{files.images}: {len(images)} images but {files.labels} has {count} labels"
                )
            return images, None
        if count is not None and len(sizes) != count:
            raise DatasetImportError(f"{files.sidecar}: {len(sizes)} sizes for {count} items")
        return images, offsets

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

    def _check_labels(self, path: str) -> None:
        label_count = len(self._categories[AnnotationType.label])
        bad = np.flatnonzero(((self._labels < 0) | (self._labels >= label_count)) & (self._labels != NO_LABEL))
        self._bad_labels = set(bad.tolist())
        self._labels_path = path

    def _item_id(self, index: int) -> str:
        return self._ids[index] if self._ids is not None else str(index)

    def _image(self, index: int) -> Optional[Image]:
        if self._offsets is not None:
            h, w = self._sidecar.sizes[index]
            if not h:
                return None
            start = self._offsets[index]
            return Image.from_numpy(data=self._images[start : start + h * w].reshape(h, w), size=(h, w))
        if self._images is not None:
            return Image.from_numpy(data=self._images[index], size=self._images.shape[1:3])
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
                f"{len(self._categories[AnnotationType.label])} categories (labels.txt / dataset_meta.json)"
            )
            self._ctx.error_policy.report_annotation_error(error, item_id=(self._item_id(index), self._subset))
            return NO_LABEL
        return label

    def __iter__(self) -> Iterator[DatasetItem]:
        progress = self._ctx.progress_reporter
        for index in progress.iter(range(self._count), total=self._count, desc=f"Importing '{self._subset}'"):
            yield make_item(self._item_id(index), self._subset, self._label(index), self._image(index))

    def __len__(self) -> int:
        return self._count

    @property
    def is_stream(self) -> bool:
        return self._stream


class MnistImporter(Importer):
    """MNIST and its family as IDX files: <subset>-images-idx3-ubyte[.gz] + <subset>-labels-idx1-ubyte[.gz]."""

    _MAX_DEPTH = 3

    @classmethod
    def find_sources(cls, path: str) -> List[Dict]:
        path = osp.normpath(path)
        if osp.isfile(path):
            return [{"url": path, "format": MnistBase.NAME}] if _DATA_FILE.match(osp.basename(path)) else []
        sources = []
        for folder, depth in _walk(path, cls._MAX_DEPTH):
            for files in find_subsets(folder):
                sources.append({"url": files.labels or files.images, "format": MnistBase.NAME})
            if sources:
                break  # like Datumaro's own search: the shallowest level with data wins
        return sources

    @classmethod
    def get_file_extensions(cls) -> List[str]:
        return [".gz", ".xz", ".bz2", ""]

    @property
    def can_stream(self) -> bool:
        return True


def _walk(root: str, max_depth: int):
    """Folders under *root*, breadth first, level by level, as (folder, depth)."""
    level = [root]
    for depth in range(max_depth + 1):
        next_level = []
        for folder in level:
            yield folder, depth
            try:
                next_level += sorted(
                    e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")
                )
            except OSError:
                continue
        level = next_level


class _IdxSubsetWriter(SubsetWriter):
    """Labels in memory, pixels streamed to a temporary raw file, IDX files written at the end."""

    def __init__(self, staging: str, subset: str, compress_level: int):
        self._staging = staging
        self._subset = subset
        self._prefix = prefix_of(subset)
        self._compress_level = compress_level
        self._labels = bytearray()
        self._payload = tempfile.TemporaryFile(dir=staging)
        self._pixels_written = 0

    def add(self, label: int, pixels: Optional[np.ndarray]) -> None:
        self._labels.append(label)
        if pixels is not None:
            self._payload.write(memoryview(np.ascontiguousarray(pixels)).cast("B"))
            self._pixels_written += 1

    def finish(self, collector: SidecarCollector) -> None:
        count = len(self._labels)
        has_images = self._pixels_written > 0
        labels_path = osp.join(self._staging, f"{self._prefix}-{LABELS_KIND}.gz")
        idx.write_idx(labels_path, np.frombuffer(bytes(self._labels), dtype=np.uint8), compress_level=self._compress_level)
        if has_images:
            size = collector.uniform_size
            # A valid IDX3 when all images share a size; mixed sizes live in the sidecar (dims 0 x 0).
            shape = (count, *size) if size else (count, 0, 0)
            self._payload.seek(0)
            idx.write_idx_from_stream(
                osp.join(self._staging, f"{self._prefix}-{IMAGES_KIND}.gz"),
                np.dtype(np.uint8),
                shape,
                self._payload,
                compress_level=self._compress_level,
            )
        sidecar = collector.sidecar(has_images)
        if sidecar:
            write_sidecar(osp.join(self._staging, self._subset + SIDECAR_SUFFIX), sidecar)

    def close(self) -> None:
        self._payload.close()


_OWNED_FILE = re.compile(rf"(.+-({IMAGES_KIND}|{LABELS_KIND})(\.gz|\.xz|\.bz2)?|.+{SIDECAR_SUFFIX}|labels\.txt|dataset_meta\.json|{IMAGES_DIR})$")


class MnistExporter(DigitsExporter):
    """Writes valid IDX files (gzip), labels.txt, and a sidecar only when ids or sizes need one."""

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
            help="gzip compression level of the IDX files (default: %(default)s)",
        )
        return parser

    def __init__(self, extractor, save_dir, *, compress_level: int = DEFAULT_COMPRESS_LEVEL, **kwargs):
        super().__init__(extractor, save_dir, **kwargs)
        if compress_level not in range(10):
            raise DatasetExportError(f"compress_level must be 0..9, not {compress_level}")
        self._compress_level = compress_level

    def open_subset(self, staging: str, subset: str) -> SubsetWriter:
        return _IdxSubsetWriter(staging, subset, self._compress_level)

    @classmethod
    def owns(cls, name: str) -> bool:
        return bool(_OWNED_FILE.match(name))
