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

import os.path as osp
import re
from typing import Callable, Dict, List, Optional

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetImportError
from datumaro.components.format_detection import FormatDetectionConfidence
from datumaro.components.importer import ImportContext
from datumaro.components.media import Image

from .csv_subset import CSV_NO_LABEL, DATA_FILE, EXTENSION, CsvSubset, CsvSubsetWriter, data_file_name, subset_of
from .export import IMAGES_DIR, DigitsExporter, SubsetWriter
from .extractor import DigitsBase, DigitsImporter
from .files import is_present, opens_one_export, recover_interrupted_export, refuse_shared_subsets
from .items import image_size, make_item, new_image, subset_from_file
from .labels import NO_LABEL, label_categories, load_label_names
from .sidecar import csv_sidecar_name
from .subset_names import SubsetFile

_OWNED_FILE = re.compile(rf"(.*mnist_.+\.csv|meta_.+\.csv|labels\.txt|dataset_meta\.json|{IMAGES_DIR})$")


# --- read: one subset ------------------------------------------------------------------------------------------


class MnistCsvBase(DigitsBase):
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
        super().__init__(subset=subset or subset_from_file(path, subset_of(osp.basename(path))), stream=stream, ctx=ctx)
        self._categories = label_categories(load_label_names(folder))
        self._label_count = len(self._categories[AnnotationType.label])
        self._data = data = CsvSubset(path, folder, self._subset)
        self._count, self._ids = data.count, data.sidecar.ids
        if data.dialect.has_label:
            self._ann_types.add(AnnotationType.label)
            if (data.pixel_counts == 0).any():
                self._image_files = self._find_image_files(folder)

    def _image(self, index: int) -> Optional[Image]:
        pixels = self._data.pixels(index)
        return new_image(pixels) if pixels is not None else self._image_file(index)  # size: the array's

    def _label(self, index: int) -> int:
        if not self._data.dialect.has_label:
            return NO_LABEL
        label = int(self._data.rows.labels[index])
        if label == CSV_NO_LABEL:
            return NO_LABEL
        if not 0 <= label < self._label_count:
            return self._bad_label(self._data.where(index), label, index, self._label_count)
        return label

    def _item(self, index: int) -> Optional[DatasetItem]:
        """Row *index* as an item, or None when it is bad and the error policy skips it."""
        problem = self._data.problem(index)
        if problem:
            item_id = (self._item_id(index), self._subset)
            self._ctx.error_policy.report_item_error(DatasetImportError(problem), item_id=item_id)
            return None
        return make_item(self._item_id(index), self._subset, self._label(index), self._image(index))

    def _item_builder(self) -> Callable[[int], Optional[DatasetItem]]:
        uniform = self._data.uniform_rows(self._label_count)
        if uniform is None:
            return self._item
        labels, images = uniform
        ids, subset, size = self._ids, self._subset, image_size(images.shape[1:])  # one tuple for every image

        def build(index: int) -> DatasetItem:
            item_id = ids[index] if ids is not None else str(index)
            return make_item(item_id, subset, labels[index], new_image(images[index], size))

        return build


# --- detect ----------------------------------------------------------------------------------------------------


class MnistCsvImporter(DigitsImporter):
    """MNIST as CSV: ``*mnist_<subset>.csv`` files, found as Datumaro's built-in finds them."""

    DETECT_CONFIDENCE = FormatDetectionConfidence.MEDIUM

    @classmethod
    def find_sources(cls, path: str) -> List[Dict]:
        recover_interrupted_export(path)
        return cls._find_sources_recursive(
            path, EXTENSION, MnistCsvBase.NAME, file_filter=lambda p: bool(DATA_FILE.match(osp.basename(p)))
        )

    @classmethod
    def find_sources_with_params(cls, path: str, **extra_params) -> List[Dict]:
        sources = cls.find_sources(path)
        refuse_shared_subsets((subset_of(osp.basename(s["url"])), s["url"]) for s in sources)
        return sources


# --- write -----------------------------------------------------------------------------------------------------


class MnistCsvExporter(DigitsExporter):
    """Writes headerless ``mnist_<subset>.csv`` files, labels.txt, and a sidecar when ids or sizes need one."""

    def open_subset(self, staging: str, subset: str) -> SubsetWriter:
        return CsvSubsetWriter(staging, subset)

    @classmethod
    def owns(cls, name: str) -> bool:
        return bool(_OWNED_FILE.match(name))

    @classmethod
    def subset_files(cls, subset: str) -> List[SubsetFile]:
        return [
            SubsetFile(data_file_name(subset), "data"),
            SubsetFile(csv_sidecar_name(subset), "aux"),
            SubsetFile(subset, "folder"),
        ]

    @classmethod
    def subset_of_file(cls, name: str) -> Optional[str]:
        match = DATA_FILE.match(name)
        return match["subset"] if match else None
