"""The ``mnist_csv`` format: MNIST as text, one row per image, the label then the pixels row by row.

    [prefix]mnist_<subset>.csv      one row per item (mnist_train.csv, fashion-mnist_test.csv, ...)
    meta_<subset>.csv               optional sidecar: item ids and/or per-item sizes (Datumaro's layout)
    labels.txt / dataset_meta.json  class names, as in ``mnist``

Three dialects, told apart by the first line's content:

* no header, ``7,0,0,...``: the original "MNIST in CSV" and what Datumaro's built-in writes;
  a row holding only a label is an item without an image, and the label ``-1`` means "no label";
* a header with a ``label`` column first (``label,1x1,...,28x28`` or ``label,pixel0,...``, as on Kaggle);
  ``<rows>x<cols>`` names in the header give the image size;
* a header without ``label`` (Kaggle's ``test.csv``): pixels only, items without annotations.

Images are 28x28 unless the header or the sidecar says otherwise. The text is parsed by vectorized numpy
over cache-sized blocks of whole lines, and every image is a view of one parsed uint8 array. Rows that
are not numbers 0..255 or have a length no image size explains go through the import error policy with
the file, line and column, so a user can skip them.
"""

from __future__ import annotations

import csv
import io
import os.path as osp
import re
from typing import Dict, Iterator, List, Optional

import numpy as np

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem, SubsetBase
from datumaro.components.errors import DatasetImportError, InvalidAnnotationError
from datumaro.components.format_detection import FormatDetectionConfidence
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image

from .export import IMAGES_DIR, DigitsExporter, SubsetWriter
from .codecs.csv_rows import DEFAULT_SIZE, CsvFormatError, explain_bad_row, format_rows, read_rows
from .files import image_files_by_id, is_present, refuse_shared_subsets
from .items import make_item, subset_from_file
from .labels import NO_LABEL, label_categories, load_label_names
from .sidecar import Sidecar, SidecarCollector
from .subset_names import SubsetFile
from .files import opens_one_export, recover_interrupted_export
from .codecs.idx import IdxFormatError, open_regular
from .items import built_in_batches, image_size, new_image, subsets_side_by_side

EXTENSION = ".csv"
#: How the built-in (and we) write "no label" in the label column.
CSV_NO_LABEL = -1
_DATA_FILE = re.compile(r"^(?P<prefix>.*?mnist)_(?P<subset>.+)\.csv$")
_OWNED_FILE = re.compile(rf"(.*mnist_.+\.csv|meta_.+\.csv|labels\.txt|dataset_meta\.json|{IMAGES_DIR})$")


def subset_of(file_name: str) -> str:
    """``fashion-mnist_test.csv`` -> ``test``; a file named otherwise gives its stem."""
    match = _DATA_FILE.match(file_name)
    return match["subset"] if match else osp.splitext(file_name)[0]


def data_file_name(subset: str) -> str:
    return f"mnist_{subset}{EXTENSION}"


def sidecar_path(folder: str, subset: str) -> str:
    return osp.join(folder, f"meta_{subset}{EXTENSION}")


def read_sidecar(path: str) -> Sidecar:
    """``meta_<subset>.csv`` as the built-in writes it: rows of ``id``, ``h,w`` or ``id,h,w``.

    Read a line at a time, each at most three of the csv module's fields long: a line of a gigabyte
    is an error, not a gigabyte of memory.
    """
    try:
        with io.TextIOWrapper(io.BufferedReader(open_regular(path)), encoding="utf-8-sig", newline="") as f:
            rows = [row for row in csv.reader(_bounded_lines(path, f, 3 * (csv.field_size_limit() + 3))) if row]
    except IdxFormatError as e:
        raise DatasetImportError(str(e)) from None
    except (UnicodeDecodeError, csv.Error, OSError) as e:
        raise DatasetImportError(f"{path}: not a CSV sidecar ({e})") from None
    return Sidecar.from_rows(path, rows)


def _bounded_lines(path: str, f: io.TextIOBase, limit: int) -> Iterator[str]:
    for number, line in enumerate(iter(lambda: f.readline(limit + 1), ""), 1):
        if len(line) > limit:
            raise DatasetImportError(f"{path}: line {number} is longer than any row of this file can be ({limit} characters)")
        yield line


def write_sidecar(path: str, sidecar: Sidecar) -> None:
    """Byte for byte what the built-in writes for the same rows (it can read ours)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        plain = csv.writer(f, lineterminator="\n")
        quoted = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a lone "\r" ends a row unless quoted
        for row in sidecar.rows():
            (quoted if any("\r" in cell for cell in row) else plain).writerow(row)


# --- the extractor ---------------------------------------------------------------------------------------------


class MnistCsvBase(SubsetBase):
    """One subset of an MNIST CSV dataset; *path* is its ``*mnist_<subset>.csv`` file."""

    @opens_one_export
    def __init__(
        self,
        path: str,
        *,
        subset: Optional[str] = None,
        stream: bool = False,
        ctx: Optional[ImportContext] = None,
    ):
        if not is_present(path):
            raise DatasetImportError(f"{path}: not an MNIST CSV file")
        folder = osp.dirname(osp.abspath(path))
        super().__init__(subset=subset or subset_from_file(path, subset_of(osp.basename(path))), ctx=ctx)
        self._path = path
        self._stream = stream
        self._categories = label_categories(load_label_names(folder))

        meta_path = sidecar_path(folder, self._subset)
        self._sidecar = read_sidecar(meta_path) if is_present(meta_path) else Sidecar()
        widest = max((h * w for h, w in self._sidecar.sizes or ()), default=0)
        try:
            self._dialect, self._rows = read_rows(path, widest)
        except CsvFormatError as e:
            raise DatasetImportError(str(e)) from None
        self._count = len(self._rows.starts)
        self._check_sidecar(meta_path)
        self._pixel_counts = self._rows.counts - int(self._dialect.has_label)
        self._problems = self._wrong_lengths(meta_path)

        self._image_files = None
        image_dir = osp.join(folder, IMAGES_DIR, self._subset)
        if self._dialect.has_label and np.any(self._pixel_counts == 0) and osp.isdir(image_dir):
            self._image_files = image_files_by_id(image_dir)
        if self._dialect.has_label:
            self._ann_types.add(AnnotationType.label)

    def _check_sidecar(self, meta_path: str) -> None:
        for column in (self._sidecar.ids, self._sidecar.sizes):
            if column is not None and len(column) != self._count:
                raise DatasetImportError(f"{meta_path}: {len(column)} rows for the {self._count} rows of {self._path}")
        if self._dialect.size is None and self._sidecar.sizes is None:
            raise DatasetImportError(
                f"{self._path}: line 1: {self._dialect.pixel_columns} pixel columns are not 28x28 and their names "
                f"do not give the size (like '16x16' for the last one); nor does a sidecar {osp.basename(meta_path)}"
            )

    def _wrong_lengths(self, meta_path: str) -> Dict[int, str]:
        """Rows whose length no image size explains: row -> why."""
        if self._sidecar.sizes is not None:
            sizes = np.array(self._sidecar.sizes, np.int64).reshape(-1, 2)
            expected = sizes[:, 0] * sizes[:, 1]
        else:
            h, w = self._dialect.size
            expected = np.full(self._count, h * w)
        fits = self._pixel_counts == expected
        if self._dialect.has_label:
            fits |= self._pixel_counts == 0  # a label alone: an item without an image
        problems = {}
        for row in np.flatnonzero(~fits).tolist():
            count = int(self._rows.counts[row])
            pixels = int(expected[row])
            if self._dialect.has_label:
                wanted = f"a label and {pixels} pixels ({pixels + 1} values), or a label alone"
            else:
                wanted = f"{pixels} pixels"
            if self._sidecar.sizes is None:
                wanted += f" (other image sizes need a sidecar {osp.basename(meta_path)})"
            problems[row] = f"{self._path}: line {int(self._rows.lines[row])}: {count} values; expected {wanted}"
        return problems

    def _item_id(self, index: int) -> str:
        return self._sidecar.ids[index] if self._sidecar.ids is not None else str(index)

    def _problem(self, index: int) -> Optional[str]:
        text = self._rows.bad_rows.get(index)
        if text is not None:
            where = explain_bad_row(text, self._dialect.has_label)
            return f"{self._path}: line {int(self._rows.lines[index])}, {where}"
        return self._problems.get(index)

    def _image(self, index: int) -> Optional[Image]:
        pixels = int(self._pixel_counts[index])
        if pixels == 0:
            path = self._image_files.get(self._item_id(index)) if self._image_files else None
            return Image.from_file(path=path) if path else None
        h, w = self._sidecar.sizes[index] if self._sidecar.sizes is not None else self._dialect.size
        start = int(self._rows.starts[index]) + int(self._dialect.has_label)
        return new_image(self._rows.values[start : start + pixels].reshape(h, w))  # size: the array's

    def _label(self, index: int) -> int:
        if not self._dialect.has_label:
            return NO_LABEL
        label = int(self._rows.labels[index])
        label_count = len(self._categories[AnnotationType.label])
        if label == CSV_NO_LABEL:
            return NO_LABEL
        if not 0 <= label < label_count:
            error = InvalidAnnotationError(
                f"{self._path}: line {int(self._rows.lines[index])}: label {label} is not one of the "
                f"{label_count} categories (labels.txt / dataset_meta.json)"
            )
            self._ctx.error_policy.report_annotation_error(error, item_id=(self._item_id(index), self._subset))
            return NO_LABEL
        return label

    def _uniform_rows(self):
        """(labels, images) when every row is a valid label (or the dialect has none: None) and one image of
        the dialect's size, else None.

        Then the rows sit back to back in the parsed values, the images are one strided view, and the
        loop builds items without a method call per field (the common case: every real MNIST CSV).
        """
        if self._sidecar.sizes is not None:  # sizes per row (the header's may be None)
            return None
        rows, (h, w) = self._rows, self._dialect.size
        width = h * w + int(self._dialect.has_label)
        if (
            self._problems
            or rows.bad_rows
            or not self._count
            or not h * w  # labels alone: items without images
            or not np.array_equal(rows.starts, np.arange(self._count) * width)
            or not (self._pixel_counts == h * w).all()
        ):
            return None
        table = rows.values[: self._count * width].reshape(self._count, width)
        images = table[:, width - h * w :].reshape(self._count, h, w)
        if not self._dialect.has_label:
            return [None] * self._count, images
        labels = rows.labels[: self._count]
        if ((labels < 0) | (labels >= len(self._categories[AnnotationType.label]))).any():
            return None
        return labels.tolist(), images

    def _item(self, index: int) -> Optional[DatasetItem]:
        """Row *index* as an item, or None when it is bad and the error policy skips it."""
        problem = self._problem(index)
        if problem:
            item_id = (self._item_id(index), self._subset)
            self._ctx.error_policy.report_item_error(DatasetImportError(problem), item_id=item_id)
            return None
        return make_item(self._item_id(index), self._subset, self._label(index), self._image(index))

    def __iter__(self) -> Iterator[DatasetItem]:
        indices = self._ctx.progress_reporter.iter(
            range(self._count), total=self._count, desc=f"Importing '{self._subset}'"
        )
        uniform = self._uniform_rows()
        if uniform is None:
            yield from built_in_batches(self._item, indices)
            return
        labels, images = uniform
        ids, subset, size = self._sidecar.ids, self._subset, image_size(images.shape[1:])  # one tuple for every image

        def build(index: int) -> DatasetItem:
            item_id = ids[index] if ids is not None else str(index)
            return make_item(item_id, subset, labels[index], new_image(images[index], size))

        yield from built_in_batches(build, indices)

    def __len__(self) -> int:
        return self._count

    @property
    def is_stream(self) -> bool:
        return self._stream


class MnistCsvImporter(Importer):
    """MNIST as CSV: ``*mnist_<subset>.csv`` files, found as Datumaro's built-in finds them."""

    DETECT_CONFIDENCE = FormatDetectionConfidence.MEDIUM

    @classmethod
    def find_sources(cls, path: str) -> List[Dict]:
        recover_interrupted_export(path)
        return cls._find_sources_recursive(
            path, EXTENSION, MnistCsvBase.NAME, file_filter=lambda p: bool(_DATA_FILE.match(osp.basename(p)))
        )

    @classmethod
    def find_sources_with_params(cls, path: str, **extra_params) -> List[Dict]:
        sources = cls.find_sources(path)
        refuse_shared_subsets((subset_of(osp.basename(s["url"])), s["url"]) for s in sources)
        return sources

    @classmethod
    def get_file_extensions(cls) -> List[str]:
        return [EXTENSION]

    @property
    def can_stream(self) -> bool:
        return True

    def get_extractor_merger(self):
        return subsets_side_by_side  # subsets read one after the other, not merged item by item


# --- the exporter ------------------------------------------------------------------------------------------------


#: Items formatted at once: enough to make numpy's per-call cost vanish, few enough to stay in cache.
_ROWS_PER_BATCH = 256


class _CsvSubsetWriter(SubsetWriter):
    """Rows formatted in batches and appended to ``mnist_<subset>.csv``; the sidecar written at the end."""

    def __init__(self, staging: str, subset: str):
        self._staging = staging
        self._subset = subset
        self._file = open(osp.join(staging, data_file_name(subset)), "wb")
        self._labels: List[int] = []
        self._images: List[Optional[np.ndarray]] = []
        self._has_images = False

    def add(self, label: int, pixels: Optional[np.ndarray]) -> None:
        self._labels.append(CSV_NO_LABEL if label == NO_LABEL else label)
        self._images.append(pixels)
        self._has_images |= pixels is not None
        if len(self._labels) >= _ROWS_PER_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._labels:
            self._file.write(format_rows(self._labels, self._images))
        self._labels, self._images = [], []

    def finish(self, collector: SidecarCollector) -> None:
        self._flush()
        self._file.close()
        sidecar = collector.sidecar(self._has_images)
        if self._has_images and sidecar.sizes is None and collector.uniform_size != DEFAULT_SIZE:
            sidecar.sizes = collector.sizes  # a CSV row can't say its size: anything but 28x28 needs the sidecar
        if sidecar:
            write_sidecar(sidecar_path(self._staging, self._subset), sidecar)

    def close(self) -> None:
        self._file.close()


class MnistCsvExporter(DigitsExporter):
    """Writes headerless ``mnist_<subset>.csv`` files, labels.txt, and a sidecar when ids or sizes need one."""

    def open_subset(self, staging: str, subset: str) -> SubsetWriter:
        return _CsvSubsetWriter(staging, subset)

    @classmethod
    def owns(cls, name: str) -> bool:
        return bool(_OWNED_FILE.match(name))

    @classmethod
    def subset_files(cls, subset: str) -> List[SubsetFile]:
        return [
            SubsetFile(data_file_name(subset), "data"),
            SubsetFile(osp.basename(sidecar_path("", subset)), "aux"),
            SubsetFile(subset, "folder"),
        ]

    @classmethod
    def subset_of_file(cls, name: str) -> Optional[str]:
        match = _DATA_FILE.match(name)
        return match["subset"] if match else None
