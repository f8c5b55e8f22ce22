"""The exporter skeleton both file formats share: items stream through, pixels become gray uint8,
optional viewable image files, and every export goes through the transactional commit (transaction.py).
"""

from __future__ import annotations

import os
import os.path as osp
from typing import Callable, List, Optional

import numpy as np

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError, MediaTypeError
from datumaro.components.exporter import Exporter
from datumaro.components.media import FromDataMixin, Image, ImageFromNumpy

from .datumaro_cleanup import guard_made_folder
from .items import check_export_id, shown_id
from .labels import NO_LABEL, label_names_of, save_label_names
from .sidecar import SidecarCollector
from .subset_names import SubsetFile, check_subset_names
from .transaction import staged_export

#: Where ``--image-ext`` writes viewable copies of the images: ``images/<subset>/<id><ext>``.
IMAGES_DIR = "images"

# ITU-R 601-2 luma (what Pillow's "L" conversion uses), in Datumaro's BGR channel order.
_BGR_LUMA = np.array([0.114, 0.587, 0.299])


def to_gray_uint8(data: np.ndarray, describe: Callable[[], str]) -> np.ndarray:
    """An item's image as a 2-D uint8 array: what MNIST files can hold.

    uint8 single-channel passes through untouched; other dtypes are converted (rounded) when every
    value fits 0..255; 3- and 4-channel images (BGR/BGRA, as Datumaro holds them) become grayscale
    with ITU-R 601-2 luma weights.
    """
    if data.dtype.kind not in "biuf":  # complex, text, objects: no pixel values
        raise DatasetExportError(f"{describe()}: image of {data.dtype} values; MNIST holds numbers 0..255")
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    elif data.ndim == 3 and data.shape[2] in (3, 4):
        data = data[:, :, :3] @ _BGR_LUMA
        data = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    elif data.ndim != 2:
        raise DatasetExportError(f"{describe()}: image of shape {data.shape} is not grayscale, BGR or BGRA")
    if data.dtype == np.uint8:
        return data
    if data.dtype == np.bool_:
        return data.astype(np.uint8) * 255
    if data.size and not (np.isfinite(data).all() and data.min() >= 0 and data.max() <= 255):
        raise DatasetExportError(
            f"{describe()}: {data.dtype} pixel values span {data.min()}..{data.max()}; MNIST holds 0..255"
        )
    return np.rint(data).astype(np.uint8) if data.dtype.kind == "f" else data.astype(np.uint8)


def raw_pixels(image: Image) -> Optional[np.ndarray]:
    """An image's pixels as the dataset holds them.

    Datumaro's ``ImageFromNumpy.data`` silently clips any dtype to uint8 0..255; we read the array
    underneath so that out-of-range values are reported instead of being clipped away.
    """
    if isinstance(image, ImageFromNumpy):
        return FromDataMixin.data.fget(image)
    return image.data


def gray_pixels(item: DatasetItem, describe: Callable[[], str]) -> Optional[np.ndarray]:
    """The item's image as MNIST pixels (see to_gray_uint8), None if it has none; unreadable is an error."""
    if not isinstance(item.media, Image) or not item.media.has_data:
        return None
    try:
        data = raw_pixels(item.media)
    except Exception as e:  # a missing or corrupt file, a loader that fails: whatever it raises
        raise DatasetExportError(f"{describe()}: can't read its image ({e})") from e
    return to_gray_uint8(np.asarray(data), describe) if data is not None else None


def item_label(item: DatasetItem, label_count: int, describe: Callable[[], str]) -> int:
    """The item's class index (its first Label), or NO_LABEL."""
    for ann in item.annotations:
        if ann.type == AnnotationType.label:
            if not 0 <= ann.label < label_count:
                raise DatasetExportError(f"{describe()}: label {ann.label} is not one of the {label_count} categories")
            if ann.label >= NO_LABEL:
                raise DatasetExportError(
                    f"{describe()}: label index {ann.label} does not fit: MNIST files hold class indices 0..254 "
                    f"({NO_LABEL} means 'no label')"
                )
            return ann.label
    return NO_LABEL


def label_attributes(item: DatasetItem) -> dict:
    """The attributes of the item's first Label (the one item_label() exports), or {}."""
    return next((ann.attributes for ann in item.annotations if ann.type == AnnotationType.label), {})


def dotted(ext: str) -> str:
    """An image extension as written in file names: ``png`` and ``.png`` are both ``.png``."""
    return ext if ext.startswith(".") else "." + ext


def pillow_format_for(ext: str) -> str:
    """The Pillow format that writes *ext* files, or a clear error before anything is written."""
    from PIL import Image as PILImage

    PILImage.init()
    ext = dotted(ext)
    fmt = PILImage.registered_extensions().get(ext.lower())
    if fmt is None or fmt not in PILImage.SAVE:
        writable = sorted(e for e, f in PILImage.registered_extensions().items() if f in PILImage.SAVE)
        raise DatasetExportError(f"image extension '{ext}' is not one Pillow can write (try one of {', '.join(writable)})")
    return fmt


def check_image_ext_needs_media(image_ext: Optional[str], save_media: Optional[bool], writes: str) -> None:
    """One rule for all our exporters: ``--image-ext`` without ``--save-media`` is an error, not ignored.

    Datumaro's own exporters drop the option silently; but a user who names an image format expects
    image files, and getting none without a word is the worse surprise. *writes* says which files.
    """
    if image_ext and not save_media:
        raise DatasetExportError(
            f"--image-ext '{image_ext}' sets the format of {writes}, which only --save-media writes: "
            "add --save-media (image_ext needs save_media=True), or drop --image-ext"
        )


class ImageFileWriter:
    """Writes ``images/<subset>/<id><ext>`` with Pillow so a person can look at the data."""

    def __init__(self, save_dir: str, ext: str) -> None:
        self.ext = dotted(ext)
        self.format = pillow_format_for(self.ext)
        self.save_dir = save_dir

    def write(self, subset: str, item_id: str, pixels: np.ndarray) -> None:
        from PIL import Image as PILImage

        path = osp.join(self.save_dir, IMAGES_DIR, subset, item_id + self.ext)
        os.makedirs(osp.dirname(path), exist_ok=True)
        PILImage.fromarray(np.ascontiguousarray(pixels), mode="L").save(path, format=self.format)


def check_destination(save_dir: str) -> None:
    """Refuse, before anything is written, a destination that is (or lies under) something not a folder."""
    path = osp.abspath(save_dir)
    while not osp.isdir(path):
        if osp.lexists(path):
            kind = "file" if osp.isfile(path) else "file system entry that is not a folder"
            where = "is" if path == osp.abspath(save_dir) else f"lies under '{path}', which is"
            raise DatasetExportError(f"export to '{save_dir}': the destination {where} a {kind}")
        if osp.dirname(path) == path:
            return
        path = osp.dirname(path)


class StagedExporter(Exporter):
    """An exporter whose exports go through ``staged_export``: into any folder, the one it came from too."""

    @classmethod
    def convert(cls, extractor, save_dir, **options):
        """Datumaro's, after taking over its removal of the folder it made for this export, if it did: a
        failure removes it only while it is empty, never with another export in it (datumaro_cleanup.py)."""
        guard_made_folder(save_dir)
        return super().convert(extractor, save_dir, **options)

    @classmethod
    def patch(cls, dataset, patch, save_dir, **options):
        """Datumaro's way into the folder a dataset was imported from: write a copy beside it, delete the
        folder, rename the copy, which loses every file that isn't the format's. The staged commit
        already replaces only the format's entries and keeps the rest, and reads the source (perhaps
        still read lazily) before anything of it is replaced."""
        return cls.convert(dataset, save_dir=save_dir, **options)


class SubsetWriter:
    """Receives one subset's labels and pixels in item order; a format writes its files from them."""

    def add(self, label: int, pixels: Optional[np.ndarray], item: DatasetItem, describe: Callable[[], str]) -> None:
        """The item's label (or NO_LABEL) and pixels (None: not saved or no image); *item* for what else a
        format stores (``mnist``: QMNIST's extended labels), *describe* names it in an error."""
        raise NotImplementedError

    def finish(self, collector: SidecarCollector) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release temporary resources, whether or not finish() ran."""


class DigitsExporter(StagedExporter):
    """Export plumbing shared by formats storing one label and one grayscale image per item.

    Subclasses say how to write a subset (``open_subset``) and which top-level files are theirs
    (``owns``). Items stream through: memory holds a subset's labels, ids and sizes, not its images.
    """

    DEFAULT_IMAGE_EXT = ".png"

    @classmethod
    def build_cmdline_parser(cls, **kwargs):
        from .layouts import add_training_options  # layouts imports this module

        parser = super().build_cmdline_parser(**kwargs)
        add_training_options(parser)
        return parser

    def __init__(self, extractor, save_dir, *, subset_map=None, label_values: str = "index", **kwargs):
        super().__init__(extractor, save_dir, **kwargs)
        self._subset_map = subset_map
        self._label_values = label_values

    @property
    def can_stream(self) -> bool:
        return True

    def open_subset(self, staging: str, subset: str) -> SubsetWriter:
        raise NotImplementedError

    def data_folder(self, staging: str) -> str:
        """Where in the staging folder the data files go (the ``mnist`` torchvision layout nests them)."""
        return staging

    def check_before_writing(self) -> None:
        """A last look at the (renamed) dataset and the options, before any file is written."""

    @classmethod
    def owns(cls, name: str) -> bool:
        raise NotImplementedError

    @classmethod
    def subset_files(cls, subset: str) -> List[SubsetFile]:
        """Every file an export may write for *subset* (see subset_names.check_subset_names)."""
        raise NotImplementedError

    @classmethod
    def subset_of_file(cls, name: str) -> Optional[str]:
        """The subset the importer reads from a file named *name*, None if it is not a data file."""
        raise NotImplementedError

    def _apply_impl(self) -> None:
        from .layouts import training_view

        self._extractor = training_view(self._extractor, self._subset_map, self._label_values)
        media_type = self._extractor.media_type()
        if media_type and not issubclass(media_type, Image):
            raise MediaTypeError(f"{self.NAME} holds images; this dataset's media type is {media_type.__name__}")
        check_destination(self._save_dir)
        image_files = None
        copies = f"the viewable copies {IMAGES_DIR}/<subset>/<id><ext>"
        check_image_ext_needs_media(self._image_ext, self._save_media, copies)
        if self._image_ext and self._save_media:
            pillow_format_for(self._image_ext)  # an unknown extension fails before anything is written
        label_count = len(label_names_of(self._extractor))
        self.check_before_writing()  # a layout's own rules on subset names come first
        check_subset_names(self.NAME, self._extractor.subsets(), self.subset_files, self.subset_of_file)

        try:
            with staged_export(self._save_dir, self.owns) as staging:
                folder = self.data_folder(staging)
                os.makedirs(folder, exist_ok=True)
                if self._image_ext and self._save_media:
                    image_files = ImageFileWriter(folder, self._image_ext)
                for subset_name, subset in self._extractor.subsets().items():
                    self._export_subset(folder, subset_name, subset, label_count, image_files)
                save_label_names(folder, self._extractor, self._save_dataset_meta)
        except OSError as e:  # a full disk, a read-only folder: say where, not only errno
            raise DatasetExportError(f"export to '{self._save_dir}' failed: {e}") from e

    def _export_subset(self, staging, subset_name, subset, label_count, image_files) -> None:
        writer = self.open_subset(staging, subset_name)
        collector = SidecarCollector()
        progress = self._ctx.progress_reporter
        try:
            for item in progress.iter(subset, desc=f"Exporting '{subset_name}'"):
                describe = lambda: f"item '{shown_id(item.id)}' of subset '{subset_name}'"  # noqa: E731
                check_export_id(item.id, describe)
                label = item_label(item, label_count, describe)
                pixels = gray_pixels(item, describe) if self._save_media else None
                writer.add(label, pixels, item, describe)
                collector.add(item.id, pixels.shape if pixels is not None else (0, 0))
                if image_files is not None and pixels is not None:
                    image_files.write(subset_name, item.id, pixels)
            repeated = collector.repeated_id()
            if repeated is not None:
                raise DatasetExportError(f"subset '{subset_name}' has two items with id '{shown_id(repeated)}' "
                                         f"(an item repeated, or subsets '' and 'default', which Datumaro merges); "
                                         f"give them distinct ids or subsets")
            writer.finish(collector)
        finally:
            writer.close()
