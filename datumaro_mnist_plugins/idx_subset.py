"""One subset's IDX files, read and written: labels, QMNIST's extended labels, images, the sidecar.

:class:`IdxSubset` opens what :class:`~.idx_files.SubsetFiles` found and checks the files agree
(counts, sizes), reading the images header once and the pixels a batch at a time.
:class:`IdxSubsetWriter` writes a subset's files from the labels and pixels the exporter hands it.
"""

from __future__ import annotations

import array
import os.path as osp
import tempfile
from typing import Callable, List, Optional, Tuple

import numpy as np

from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetImportError

from . import family, layouts
from .codecs import idx, idx_payload
from .export import SubsetWriter, label_attributes
from .idx_files import IMAGES_KIND, LABELS_KIND, SubsetFiles
from .sidecar import IDX_SIDECAR_SUFFIX, Sidecar, SidecarCollector, read_idx_sidecar, write_idx_sidecar

#: Images are read this many at a time (under 1 MB of 28x28 digits): what streaming holds at once.
BATCH_ITEMS = 1024


def import_error(error: idx.IdxFormatError) -> DatasetImportError:
    wrapped = DatasetImportError(str(error))
    wrapped.__cause__ = error
    return wrapped


def read_labels(path: Optional[str], kind: Optional[str]):
    """The class of each item, and QMNIST's extended columns 1..7 when the file has them."""
    if not path:
        return None, None
    try:
        labels = idx.read_idx(path)
    except idx.IdxFormatError as e:
        raise import_error(e) from e
    if kind == family.EXTENDED_LABELS_KIND:
        if labels.ndim != 2 or labels.shape[1] != family.QMNIST_WIDTH or labels.dtype.kind not in "iu":
            raise DatasetImportError(
                f"{path}: QMNIST extended labels are N x {family.QMNIST_WIDTH} integers, "
                f"not {labels.dtype} {labels.shape}"
            )
        return labels[:, 0].astype(np.int64), labels[:, 1:].astype(np.int64)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetImportError(f"{path}: a labels file holds one integer per item, not {labels.dtype} {labels.shape}")
    return labels.astype(np.int64), None


def _builtin_pixel_count(shape: Tuple[int, ...], count: Optional[int]) -> Optional[int]:
    """Datumaro's built-in exporter writes the pixel count where IDX wants the image count.

    Such a file (N*H*W, H, W with N labels) is read as the N images it holds.
    """
    if count is not None and len(shape) == 3 and shape[0] != count and shape[0] == count * shape[1] * shape[2]:
        return shape[0]
    return None


class IdxSubset:
    """The labels, ids and pixels of one subset; ``count`` items, ``images`` None when it has no images file."""

    def __init__(self, files: SubsetFiles):
        self.files = files
        self.labels, self.extended = read_labels(files.labels, files.labels_kind)
        count = len(self.labels) if self.labels is not None else None
        header = self._header() if files.images else None
        opened = None
        sidecar_count = count
        if count is None and header is not None and files.sidecar:
            opened, sidecar_count = self._count_of_images(header[1])
        self.sidecar = read_idx_sidecar(files.sidecar, sidecar_count) if files.sidecar and sidecar_count else Sidecar()
        self.images, self.shape, self.offsets = self._open_images(header, count, opened)
        if count is None:
            count = len(self.offsets) - 1 if self.offsets is not None else self.shape[0]
        self.count = count
        self.transposed = files.transposed and self.offsets is None  # EMNIST items come out upright
        self.ids = self.sidecar.ids
        if self.ids is not None and len(self.ids) != count:
            raise DatasetImportError(f"{files.sidecar}: {len(self.ids)} ids for {count} items")
        self._batch: Tuple[int, int, Optional[np.ndarray]] = (0, 0, None)  # first, end, the images read

    def _header(self) -> Tuple[np.dtype, Tuple[int, ...]]:
        try:
            return self.files.images_header()
        except idx.IdxFormatError as e:
            raise import_error(e) from e

    def _count_of_images(self, shape: Tuple[int, ...]):
        """(the payload, opened, or None; the image count) of an images file without labels.

        A header count is not a size to trust (the sidecar's read is bounded by it): when the images have
        a size, the file must hold them.
        """
        if len(shape) != 3:
            raise DatasetImportError(f"{self.files.images}: an images file holds N x H x W values, not {shape}")
        if not shape[1] * shape[2]:
            return None, shape[0]
        try:
            return idx_payload.open_payload(self.files.images), shape[0]
        except idx.IdxFormatError as e:
            raise DatasetImportError(f"{self.files.images}: not an IDX images file ({e})") from None

    def _open_images(self, header, count: Optional[int], opened):
        """The pixels (read a batch at a time), the images' shape and, for mixed sizes, each item's offset."""
        if header is None:
            return None, None, None
        path, sizes = self.files.images, self.sidecar.sizes
        try:
            if sizes is None:
                builtin = _builtin_pixel_count(header[1], count)
                payload, shape = opened or idx_payload.open_payload(path, flat_count=builtin)
                if builtin is not None:
                    shape = (count, *header[1][1:])
                return payload, self._checked_shape(shape, count), None
            if opened is not None:
                opened[0].close()
            # the file must hold the sizes' total (a Python int: no overflow) before numpy sums them
            payload, _ = idx_payload.open_payload(path, flat_count=sum(h * w for h, w in sizes))
        except idx.IdxFormatError as e:
            raise import_error(e) from e
        if count is not None and len(sizes) != count:
            raise DatasetImportError(f"{self.files.sidecar}: {len(sizes)} sizes for {count} items")
        return payload, None, np.concatenate([[0], np.cumsum([h * w for h, w in sizes], dtype=np.int64)])

    def _checked_shape(self, shape: Tuple[int, ...], count: Optional[int]) -> Tuple[int, ...]:
        files = self.files
        if len(shape) != 3:
            raise DatasetImportError(f"{files.images}: an images file holds N x H x W values, not {shape}")
        if shape[0] and not shape[1] * shape[2]:
            raise DatasetImportError(
                f"{files.images}: images of {shape[1]}x{shape[2]} pixels need the sizes "
                f"sidecar {family.subset_of(files.prefix)}{IDX_SIDECAR_SUFFIX}, which is missing"
            )
        if count is not None and shape[0] != count:
            raise DatasetImportError(f"{files.images}: {shape[0]} images but {files.labels} has {count} labels")
        return shape

    @property
    def uniform(self) -> bool:
        """One image per row of one array (no sizes sidecar)."""
        return self.images is not None and self.offsets is None

    def read_batch(self, index: int) -> Tuple[int, int, np.ndarray]:
        """(first, end, pixels) of up to BATCH_ITEMS items from *index*: an images array, or flat for mixed sizes.

        Batches are arrays of our own (see idx_payload): a file changed under us is an error, not a crash.
        """
        first, end = index, min(index + BATCH_ITEMS, self.count)
        try:
            if self.offsets is None:
                h, w = self.shape[1:]
                batch = self.images.read(first * h * w, (end - first) * h * w).reshape(end - first, h, w)
                return first, end, batch.transpose(0, 2, 1) if self.transposed else batch
            start = int(self.offsets[first])
            return first, end, self.images.read(start, int(self.offsets[end]) - start)
        except idx.IdxFormatError as e:
            raise import_error(e) from None

    def pixels(self, index: int) -> Optional[np.ndarray]:
        """Item *index*'s pixels, from the batch read with it; None for an item of size 0x0."""
        size = self.sidecar.sizes[index] if self.offsets is not None else None
        if size is not None and not size[0]:
            return None
        first, end, batch = self._batch
        if not first <= index < end:
            first, end, batch = self._batch = self.read_batch(index)
        if self.offsets is None:
            return batch[index - first]
        h, w = size
        start = int(self.offsets[index] - self.offsets[first])
        return batch[start : start + h * w].reshape(h, w)


class IdxSubsetWriter(SubsetWriter):
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

    def add(self, label: int, pixels: Optional[np.ndarray], item: DatasetItem, describe: Callable[[], str]) -> None:
        self._labels.append(label)
        attributes = label_attributes(item)
        values = family.qmnist_values(attributes, describe) if attributes else None
        self._has_extended |= values is not None
        self._extended.extend(values or family.QMNIST_ABSENT)
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

    def _path(self, kind: str) -> str:
        return osp.join(self._staging, f"{self._prefix}-{kind}{self._layout.suffix}")

    def finish(self, collector: SidecarCollector) -> None:
        count = len(self._labels)
        labels = np.frombuffer(bytes(self._labels), dtype=np.uint8)
        layouts.check_complete(self._layout, self._subset, labels, collector)
        idx.write_idx(self._path(LABELS_KIND), labels, compress_level=self._compress_level)
        if self._has_extended or self._layout.extended_labels:
            extended = np.frombuffer(self._extended, dtype=np.intc).reshape(count, family.QMNIST_WIDTH - 1)
            idx.write_idx(
                self._path(family.EXTENDED_LABELS_KIND),
                np.column_stack([labels.astype(np.int32), extended]).astype(np.int32),
                compress_level=self._compress_level,
            )
        if self._pixels_written:
            self._write_images(count, collector.uniform_size)
        sidecar = collector.sidecar(self._pixels_written > 0)
        if sidecar:  # named as the importer looks for it: after the prefix's subset
            name = family.subset_of(self._prefix) if self._layout.prefixes is not None else self._subset
            write_idx_sidecar(osp.join(self._staging, name + IDX_SIDECAR_SUFFIX), sidecar)

    def _write_images(self, count: int, size: Optional[Tuple[int, int]]) -> None:
        if size and self._layout.transposed:
            size = size[::-1]
        # A valid IDX3 when all images share a size; mixed sizes live in the sidecar (dims 0 x 0).
        shape = (count, *size) if size else (count, 0, 0)
        self._write_batch()
        self._payload.seek(0)
        idx.write_idx_from_stream(
            self._path(IMAGES_KIND), np.dtype(np.uint8), shape, self._payload, compress_level=self._compress_level
        )

    def close(self) -> None:
        self._payload.close()
