"""One subset's MNIST CSV file, read and written: its rows, checked against the sidecar, and its names.

:class:`CsvSubset` parses ``*mnist_<subset>.csv`` (codecs/csv_rows.py) with ``meta_<subset>.csv`` and
finds, up front, every row whose length no image size explains. :class:`CsvSubsetWriter` formats
the rows the exporter hands it, a batch at a time.
"""

from __future__ import annotations

import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetImportError

from .codecs.csv_rows import DEFAULT_SIZE, CsvFormatError, explain_bad_row, format_rows, read_rows
from .export import SubsetWriter
from .files import is_present
from .labels import NO_LABEL
from .sidecar import Sidecar, SidecarCollector, csv_sidecar_name, read_csv_sidecar, write_csv_sidecar

EXTENSION = ".csv"
#: How the built-in (and we) write "no label" in the label column.
CSV_NO_LABEL = -1
DATA_FILE = re.compile(r"^(?P<prefix>.*?mnist)_(?P<subset>.+)\.csv$")
#: Items formatted at once: enough to make numpy's per-call cost vanish, few enough to stay in cache.
_ROWS_PER_BATCH = 256


def subset_of(file_name: str) -> str:
    """``fashion-mnist_test.csv`` -> ``test``; a file named otherwise gives its stem."""
    match = DATA_FILE.match(file_name)
    return match["subset"] if match else osp.splitext(file_name)[0]


def data_file_name(subset: str) -> str:
    return f"mnist_{subset}{EXTENSION}"


class CsvSubset:
    """The ``count`` rows of one CSV file: labels, pixels, ids, and what is wrong with a bad row."""

    def __init__(self, path: str, folder: str, subset: str):
        self.path = path
        self._meta_path = osp.join(folder, csv_sidecar_name(subset))
        self.sidecar = read_csv_sidecar(self._meta_path) if is_present(self._meta_path) else Sidecar()
        widest = max((h * w for h, w in self.sidecar.sizes or ()), default=0)
        try:
            self.dialect, self.rows = read_rows(path, widest)
        except CsvFormatError as e:
            raise DatasetImportError(str(e)) from None
        self.count = len(self.rows.starts)
        self._check_sidecar()
        self.pixel_counts = self.rows.counts - int(self.dialect.has_label)
        self._problems = self._wrong_lengths()

    def _check_sidecar(self) -> None:
        for column in (self.sidecar.ids, self.sidecar.sizes):
            if column is not None and len(column) != self.count:
                raise DatasetImportError(f"{self._meta_path}: {len(column)} rows for the {self.count} rows of {self.path}")
        if self.dialect.size is None and self.sidecar.sizes is None:
            raise DatasetImportError(
                f"{self.path}: line 1: {self.dialect.pixel_columns} pixel columns are not 28x28 and their names "
                f"do not give the size (like '16x16' for the last one); nor does a sidecar {osp.basename(self._meta_path)}"
            )

    def _expected_pixels(self) -> np.ndarray:
        if self.sidecar.sizes is not None:
            sizes = np.array(self.sidecar.sizes, np.int64).reshape(-1, 2)
            return sizes[:, 0] * sizes[:, 1]
        h, w = self.dialect.size
        return np.full(self.count, h * w)

    def _wrong_lengths(self) -> Dict[int, str]:
        """Rows whose length no image size explains: row -> why."""
        expected = self._expected_pixels()
        fits = self.pixel_counts == expected
        if self.dialect.has_label:
            fits |= self.pixel_counts == 0  # a label alone: an item without an image
        problems = {}
        for row in np.flatnonzero(~fits).tolist():
            pixels = int(expected[row])
            if self.dialect.has_label:
                wanted = f"a label and {pixels} pixels ({pixels + 1} values), or a label alone"
            else:
                wanted = f"{pixels} pixels"
            if self.sidecar.sizes is None:
                wanted += f" (other image sizes need a sidecar {osp.basename(self._meta_path)})"
            problems[row] = f"{self.where(row)}: {int(self.rows.counts[row])} values; expected {wanted}"
        return problems

    def where(self, index: int) -> str:
        """``<file>: line <n>``: where row *index* is."""
        return f"{self.path}: line {int(self.rows.lines[index])}"

    def problem(self, index: int) -> Optional[str]:
        """What is wrong with row *index*, None when it is a good row."""
        text = self.rows.bad_rows.get(index)
        if text is not None:
            return f"{self.where(index)}, {explain_bad_row(text, self.dialect.has_label)}"
        return self._problems.get(index)

    def pixels(self, index: int) -> Optional[np.ndarray]:
        """Row *index*'s image, a view of the parsed values; None for a label alone."""
        pixels = int(self.pixel_counts[index])
        if pixels == 0:
            return None
        h, w = self.sidecar.sizes[index] if self.sidecar.sizes is not None else self.dialect.size
        start = int(self.rows.starts[index]) + int(self.dialect.has_label)
        return self.rows.values[start : start + pixels].reshape(h, w)

    def uniform_rows(self, label_count: int) -> Optional[Tuple[list, np.ndarray]]:
        """(labels, images) when every row is a valid label (or the dialect has none: None) and one image of
        the dialect's size, else None.

        Then the rows sit back to back in the parsed values, the images are one strided view, and the
        loop builds items without a method call per field (the common case: every real MNIST CSV).
        """
        if self.sidecar.sizes is not None:  # sizes per row (the header's may be None)
            return None
        rows, (h, w) = self.rows, self.dialect.size
        width = h * w + int(self.dialect.has_label)
        if (
            self._problems
            or rows.bad_rows
            or not self.count
            or not h * w  # labels alone: items without images
            or not np.array_equal(rows.starts, np.arange(self.count) * width)
            or not (self.pixel_counts == h * w).all()
        ):
            return None
        table = rows.values[: self.count * width].reshape(self.count, width)
        images = table[:, width - h * w :].reshape(self.count, h, w)
        if not self.dialect.has_label:
            return [None] * self.count, images
        labels = rows.labels[: self.count]
        if ((labels < 0) | (labels >= label_count)).any():
            return None
        return labels.tolist(), images


class CsvSubsetWriter(SubsetWriter):
    """Rows formatted in batches and appended to ``mnist_<subset>.csv``; the sidecar written at the end."""

    def __init__(self, staging: str, subset: str):
        self._staging = staging
        self._subset = subset
        self._file = open(osp.join(staging, data_file_name(subset)), "wb")
        self._labels: List[int] = []
        self._images: List[Optional[np.ndarray]] = []
        self._has_images = False

    def add(self, label: int, pixels: Optional[np.ndarray], item: DatasetItem, describe: Callable[[], str]) -> None:
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
            write_csv_sidecar(osp.join(self._staging, csv_sidecar_name(self._subset)), sidecar)

    def close(self) -> None:
        self._file.close()
