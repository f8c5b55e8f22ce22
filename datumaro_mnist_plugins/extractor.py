"""What the importers and extractors of both file formats share.

:class:`DigitsImporter`: streaming, extensions from the plugin table, subsets read side by side.
:class:`DigitsBase`, one subset's items, by index, built a batch at a time: a format's extractor reads its files in ``__init__`` and says how to build item *index*
(:meth:`DigitsBase._item_builder`); ids, labels out of range, images kept as files beside the data
(``images/<subset>/<id>.<ext>``), iteration, length and streaming are the same for both.
"""

from __future__ import annotations

import logging as log
import os.path as osp
import re
import warnings
from typing import Callable, Dict, Iterator, List, Optional

from datumaro.components.dataset_base import DatasetItem, SubsetBase
from datumaro.components.errors import InvalidAnnotationError
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image

from .export import IMAGES_DIR
from .files import image_files_by_id
from .items import built_in_batches, subsets_side_by_side
from .labels import NO_LABEL
from .registration import importer_extensions


class DigitsImporter(Importer):
    """An importer of one source per subset file, streamable, whose extensions are the plugin table's."""

    @classmethod
    def get_file_extensions(cls) -> List[str]:
        return importer_extensions(cls.NAME)

    @property
    def can_stream(self) -> bool:
        return True

    def get_extractor_merger(self):
        return subsets_side_by_side  # subsets read one after the other, not merged item by item


class DigitsBase(SubsetBase):
    """One subset of ``count`` items; item *index* has the sidecar's id, else ``str(index)``."""

    def __init__(self, *, subset: Optional[str], stream: bool, ctx: Optional[ImportContext]):
        super().__init__(subset=subset, ctx=ctx)
        self._stream = stream
        self._count = 0
        self._ids: Optional[List[str]] = None
        #: item id -> image file, for items whose data file holds no pixels (see _image_file)
        self._image_files: Optional[Dict[str, str]] = None

    def _item_builder(self) -> Callable[[int], Optional[DatasetItem]]:
        """What builds item *index* (None: skipped by the error policy); called once per iteration."""
        raise NotImplementedError

    def _item_id(self, index: int) -> str:
        return self._ids[index] if self._ids is not None else str(index)

    def _find_image_files(self, folder: str) -> Optional[Dict[str, str]]:
        """The viewable copies an export with ``--image-ext`` wrote, by id; None when there are none."""
        image_dir = osp.join(folder, IMAGES_DIR, self._subset)
        return image_files_by_id(image_dir) if osp.isdir(image_dir) else None

    def _image_file(self, index: int) -> Optional[Image]:
        """Item *index*'s image from ``images/<subset>/``, when its data file holds no pixels."""
        path = self._image_files.get(self._item_id(index)) if self._image_files else None
        return Image.from_file(path=path) if path else None

    def _say_images_are_missing(self, why: str) -> None:
        """One warning at import, instead of one per item from every Datumaro command that looks at images."""
        log.warning("%s: its %d items have no image", why, self._count)
        # Datumaro's image statistics warn once per item without media (`datum stats`: 2 lines per item)
        warnings.filterwarnings(
            "ignore", rf"item \(id: .*, subset: {re.escape(self._subset)}\) has media_type, None but only Image"
        )

    def _bad_label(self, where: str, label: int, index: int, label_count: int) -> int:
        """Report a label out of range through the error policy (which may raise); the item gets NO_LABEL."""
        error = InvalidAnnotationError(
            f"{where}: label {label} is not one of the {label_count} categories (labels.txt / dataset_meta.json)"
        )
        self._ctx.error_policy.report_annotation_error(error, item_id=(self._item_id(index), self._subset))
        return NO_LABEL

    def __iter__(self) -> Iterator[DatasetItem]:
        indices = self._ctx.progress_reporter.iter(
            range(self._count), total=self._count, desc=f"Importing '{self._subset}'"
        )
        yield from built_in_batches(self._item_builder(), indices)

    def __len__(self) -> int:
        return self._count

    @property
    def is_stream(self) -> bool:
        return self._stream
