"""What every MNIST-family format shares: label names, the id/size sidecar, pixels, and safe export.

Written once here so that ``mnist`` and ``mnist_csv`` (and the synthetic source) cannot drift apart
the way Datumaro's built-in ``mnist.py`` and ``mnist_csv.py`` did.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import re
import stat
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from datumaro.components.annotation import AnnotationType, LabelCategories
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.errors import DatasetExportError, DatasetImportError, MediaTypeError
from datumaro.components.exporter import Exporter
from datumaro.components.media import FromDataMixin, Image, ImageFromNumpy
from datumaro.util.meta_file_util import DATASET_META_FILE, save_meta_file
from datumaro.util.os_util import contains_unsafe_path_component

from . import idx
from ._fast import new_item
from .subset_names import SubsetFile, check_subset_names
from .transaction import recover, staged_export

#: Datumaro's "this item has no label" value in MNIST label files.
NO_LABEL = 255
#: The classic digit size; the built-in formats assume it when no sidecar says otherwise.
MNIST_SIDE = 28
LABELS_FILE = "labels.txt"
#: Where ``--image-ext`` writes viewable copies of the images: ``images/<subset>/<id><ext>``.
IMAGES_DIR = "images"

# ITU-R 601-2 luma (what Pillow's "L" conversion uses), in Datumaro's BGR channel order.
_BGR_LUMA = np.array([0.114, 0.587, 0.299])


# --- files: what is there, and what a file name may become --------------------------------------------

#: A side file (labels.txt, dataset_meta.json, a class map, a CSV sidecar) is read whole; none is this big.
MAX_SIDE_FILE_BYTES = 16 << 20


def is_present(path: str) -> bool:
    """Is there a regular file at *path*? Nothing there is False; anything else there (a directory, a FIFO,
    a device, a dangling link) is an error naming it: skipping it silently would import less than the user has."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if not osp.lexists(path):
            return False
        raise DatasetImportError(f"{path}: can't be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise DatasetImportError(f"{path}: is {idx.kind_of(mode)}, where a file is expected")
    return True


def read_side_file(path: str) -> bytes:
    """The bytes of a small side file, refused when it is not a regular file or bigger than any such file."""
    try:
        with idx.open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(size + 1) if size <= MAX_SIDE_FILE_BYTES else b""  # + 1: a file that grew meanwhile
    except idx.IdxFormatError as e:
        raise DatasetImportError(str(e)) from None
    except OSError as e:
        raise DatasetImportError(f"{path}: can't be read ({e.strerror})") from None
    if max(size, len(data)) > MAX_SIDE_FILE_BYTES:
        raise DatasetImportError(f"{path}: larger than {MAX_SIDE_FILE_BYTES >> 20} MiB, more than such a file holds")
    return data


def subset_from_file(path: str, subset: str) -> str:
    """*subset*, the name *path*'s file name gives, if Datumaro takes it as a subset name; else a clear error."""
    reason = unsafe_id_reason(subset)
    if reason:
        raise DatasetImportError(f"{path}: the file name gives the subset name {subset!r}, which {reason}")
    return subset


def refuse_shared_subsets(files: Iterable[Tuple[str, str]]) -> None:
    """(subset, file) pairs: two files that would become one subset are an error naming both.

    Imported together their items would mix into one subset (``t10k-*`` beside ``test-*``,
    ``mnist_train.csv`` beside ``fashion-mnist_train.csv``), silently losing some and mislabeling others.
    """
    seen: Dict[str, str] = {}
    for subset, path in files:
        other = seen.setdefault(subset, path)
        if other != path:
            raise DatasetImportError(
                f"{other} and {path} would both be subset '{subset}'; import them separately "
                "(point at one file, or move one into a folder of its own)"
            )


# --- label names: dataset_meta.json > labels.txt > the digits ------------------------------------------


def load_label_names(dataset_dir: str, default: Sequence[str] = tuple("0123456789")) -> List[str]:
    """The class names of a dataset folder, in label-index order.

    ``dataset_meta.json`` (Datumaro's meta file) wins over ``labels.txt`` (one name per line; a BOM,
    CRLF line ends and blank lines are tolerated), which wins over *default*.
    """
    meta_path = osp.join(dataset_dir, DATASET_META_FILE)
    if is_present(meta_path):
        return _names_from_meta_file(meta_path)
    labels_path = osp.join(dataset_dir, LABELS_FILE)
    if is_present(labels_path):
        return _names_from_labels_file(labels_path)
    return list(default)


def _names_from_meta_file(path: str) -> List[str]:
    try:
        meta = json.loads(read_side_file(path).decode("utf-8-sig"))
    except RecursionError:
        raise DatasetImportError(f"{path}: not a dataset meta file (JSON nested too deeply to read)") from None
    except (UnicodeDecodeError, ValueError) as e:
        # `from None`: Datumaro's import_from reports an error's cause *instead of* the error, losing our message
        raise DatasetImportError(f"{path}: not a valid JSON dataset meta file ({e})") from None
    if not isinstance(meta, dict):
        raise DatasetImportError(f"{path}: a dataset meta file must hold a JSON object, not {type(meta).__name__}")
    names = meta.get("labels")
    label_map = meta.get("label_map")
    if names is None and isinstance(label_map, dict):
        try:
            names = [label_map[k] for k in sorted(label_map, key=int)]
        except (TypeError, ValueError) as e:
            raise DatasetImportError(f"{path}: 'label_map' keys must be label indices ({e})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetImportError(f"{path}: 'labels' must be a list of strings")
    if "" in names:  # Datumaro's LabelCategories would fail a bare assert
        raise DatasetImportError(f"{path}: label {names.index('')} has an empty name")
    try:
        "".join(names).encode("utf-8")  # JSON's "\ud800" escapes decode to unpaired surrogates
    except UnicodeEncodeError as e:
        raise DatasetImportError(f"{path}: a label name holds {e.object[e.start:e.end]!r}, which is not text") from None
    _check_unique(path, names)
    return names


def _names_from_labels_file(path: str) -> List[str]:
    raw = read_side_file(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DatasetImportError(f"{path}: not UTF-8 text (line {line}, byte {e.start})") from None
    names = [line.strip() for line in text.splitlines()]
    names = [n for n in names if n]
    _check_unique(path, names)
    return names


def _check_unique(path: str, names: Sequence[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise DatasetImportError(f"{path}: label '{name}' is listed twice")
        seen.add(name)


def label_categories(names: Iterable[str]) -> Dict[AnnotationType, LabelCategories]:
    return {AnnotationType.label: LabelCategories.from_iterable(names)}


def label_names_of(extractor) -> List[str]:
    return [c.name for c in extractor.categories().get(AnnotationType.label, LabelCategories())]


def save_label_names(save_dir: str, extractor, save_dataset_meta: bool) -> None:
    """``labels.txt`` always (the formats' own way to name classes); ``dataset_meta.json`` on request,
    and whenever a name would not read back from ``labels.txt`` (blank, padded, holding a line break)."""
    names = label_names_of(extractor)
    with open(osp.join(save_dir, LABELS_FILE), "w", encoding="utf-8") as f:
        f.writelines(name + "\n" for name in names)
    if save_dataset_meta or not all(_fits_a_line(name) for name in names):
        categories = dict(extractor.categories())
        categories.setdefault(AnnotationType.label, LabelCategories())  # save_meta_file assumes label categories
        save_meta_file(save_dir, categories)


def _fits_a_line(name: str) -> bool:
    """Does *name* read back unchanged as a line of labels.txt (see _names_from_labels_file)?"""
    return bool(name) and name.strip() == name and name.splitlines() == [name] and not name.startswith("\ufeff")


# --- the sidecar: item ids and image sizes that the data files cannot hold --------------------------------


@dataclass
class Sidecar:
    """Per-item ids and image sizes, in the layout of Datumaro's built-in MNIST sidecars.

    Rows are ``[id]``, ``[h, w]`` or ``[id, h, w]``; a size of 0×0 means "no image".
    """

    ids: Optional[List[str]] = None
    sizes: Optional[List[Tuple[int, int]]] = None

    def __bool__(self) -> bool:
        return self.ids is not None or self.sizes is not None

    def rows(self) -> List[List[str]]:
        count = len(self.ids if self.ids is not None else self.sizes)
        columns = []
        if self.ids is not None:
            columns.append(self.ids)
        if self.sizes is not None:
            columns.append([str(h) for h, _ in self.sizes])
            columns.append([str(w) for _, w in self.sizes])
        return [[column[i] for column in columns] for i in range(count)]

    @classmethod
    def from_rows(cls, path: str, rows: Sequence[Sequence[str]]) -> "Sidecar":
        widths = {len(row) for row in rows}
        if len(widths) > 1 or (widths and widths.pop() not in (1, 2, 3)):
            raise DatasetImportError(f"{path}: sidecar rows must all be [id], [h, w] or [id, h, w]")
        if not rows:
            return cls()
        width = len(rows[0])
        ids = [str(row[0]) for row in rows] if width in (1, 3) else None
        sizes = None
        if width >= 2:
            try:
                sizes = [(int(row[-2]), int(row[-1])) for row in rows]
            except ValueError as e:
                raise DatasetImportError(f"{path}: sidecar image size is not a number ({e})") from None
            for line, (h, w) in enumerate(sizes, 1):
                if not (0 <= h < 2**32 and 0 <= w < 2**32) or (h == 0) != (w == 0):
                    raise DatasetImportError(f"{path}: row {line}: bad image size {h}x{w}")
        if ids is not None:
            for line, item_id in enumerate(ids, 1):
                check_item_id(path, item_id, f"row {line}")
            duplicates = len(ids) - len(set(ids))
            if duplicates:
                raise DatasetImportError(f"{path}: {duplicates} item ids appear more than once")
        return cls(ids=ids, sizes=sizes)


#: The longest item id our files hold: every sidecar we write must import (mnist's cells, csv's field limit).
MAX_ID_CHARS = 8192


def unsafe_id_reason(item_id: str) -> Optional[str]:
    """Why Datumaro would refuse *item_id* (its own traversal rule), or None if it is fine."""
    if (
        item_id[:1] not in ("", "/", "\\")
        and item_id[1:2] != ":"
        and ".." not in item_id
        and "\0" not in item_id
        and len(item_id) <= MAX_ID_CHARS
    ):
        return None  # the common case, decided without the regular expressions below (export's hot loop)
    normalized = item_id.replace("\\", "/")
    if not item_id:
        return "is empty"
    if len(item_id) > MAX_ID_CHARS:
        return f"is {len(item_id)} characters long; ids are at most {MAX_ID_CHARS}"
    if "\0" in item_id:  # no file name holds it, and the IDX sidecar's NUL-padded cells would drop it
        return "contains a NUL character"
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return "is an absolute path"
    if contains_unsafe_path_component(normalized):
        return "contains '..' and would escape the dataset folder"
    return None


def shown_id(item_id: str) -> str:
    """An id as error messages show it: a long one cut short."""
    return item_id if len(item_id) <= 80 else item_id[:60] + f"... ({len(item_id)} characters)"


def check_item_id(path: str, item_id: str, where: str) -> None:
    reason = unsafe_id_reason(item_id)
    if reason:
        raise DatasetImportError(f"{path}: {where}: item id {shown_id(item_id)!r} {reason}")


class SidecarCollector:
    """Gathers ids and sizes during an export; keeps only what the data files cannot say themselves."""

    def __init__(self) -> None:
        self.ids: List[str] = []
        self.sizes: List[Tuple[int, int]] = []

    def add(self, item_id: str, size: Tuple[int, int]) -> None:
        self.ids.append(item_id)
        self.sizes.append(size)

    @property
    def uniform_size(self) -> Optional[Tuple[int, int]]:
        """The one image size of the subset, if all its items have an image of the same size."""
        sizes = set(self.sizes)
        if len(sizes) == 1 and (0, 0) not in sizes:
            return sizes.pop()
        return None

    def sidecar(self, has_images: bool) -> Sidecar:
        ids = self.ids if any(i != str(n) for n, i in enumerate(self.ids)) else None
        sizes = self.sizes if has_images and self.uniform_size is None else None
        return Sidecar(ids=ids, sizes=sizes)


# --- pixels --------------------------------------------------------------------------------------------


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


def make_item(
    item_id: str,
    subset: str,
    label: int,
    image: Optional[Image],
    attributes: Optional[dict] = None,
    label_attributes: Optional[dict] = None,
) -> DatasetItem:
    # new_item: the constructors' result without their per-field checks when those would pass
    label = int(label) if label != NO_LABEL else None
    return new_item(item_id, subset, image, label, label_attributes or {}, attributes or {})


# --- viewable image files (--image-ext) ----------------------------------------------------------------


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


def image_files_by_id(folder: str) -> Dict[str, str]:
    """``images/<subset>/`` files by item id (the path below the folder, without its extension).

    Anything there that is neither a file nor a folder (a FIFO, a device) is an error naming it: an image
    read from it later would hang or read nothing.
    """
    found = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):  # os.walk lists FIFOs, devices and dangling links among the files
            path = osp.join(root, name)
            is_present(path)
            item_id = osp.splitext(osp.relpath(path, folder))[0].replace(os.sep, "/")
            found.setdefault(item_id, path)
    return found


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


# --- exports that replace a folder only when they succeed (the mechanism: transaction.py) ----------------


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


def recover_interrupted_export(path: str) -> None:
    """Finish an export to the dataset folder of *path* that was killed mid-commit, before reading it.

    One stat when there is nothing to finish; every importer calls it on the folders it reads.
    """
    folder = path if osp.isdir(path) else osp.dirname(path)
    try:
        recover(folder)
    except OSError as e:
        raise DatasetImportError(
            f"{folder}: an export into this folder was interrupted mid-commit and could not be finished ({e})"
        ) from None


class StagedExporter(Exporter):
    """An exporter whose exports go through ``staged_export``: into any folder, the one it came from too."""

    @classmethod
    def patch(cls, dataset, patch, save_dir, **options):
        """Datumaro's way into the folder a dataset was imported from: write a copy beside it, delete the
        folder, rename the copy, which loses every file that isn't the format's. The staged commit
        already replaces only the format's entries and keeps the rest, and reads the source (perhaps
        still read lazily) before anything of it is replaced."""
        return cls.convert(dataset, save_dir=save_dir, **options)


# --- the exporter skeleton both file formats share -------------------------------------------------------


class SubsetWriter:
    """Receives one subset's labels and pixels in item order; a format writes its files from them."""

    def add(self, label: int, pixels: Optional[np.ndarray]) -> None:
        raise NotImplementedError

    def add_label_attributes(self, attributes: dict, describe: Callable[[], str]) -> None:
        """Called right after each add() with the attributes of the item's Label ({} if none).

        Most formats store no attributes; ``mnist`` writes QMNIST's extended labels from them.
        """

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
                writer.add(label, pixels)
                writer.add_label_attributes(label_attributes(item), describe)
                collector.add(item.id, pixels.shape if pixels is not None else (0, 0))
                if image_files is not None and pixels is not None:
                    image_files.write(subset_name, item.id, pixels)
            writer.finish(collector)
        finally:
            writer.close()


def check_export_id(item_id: str, describe: Callable[[], str]) -> None:
    reason = unsafe_id_reason(item_id)
    if reason:
        raise DatasetExportError(f"{describe()}: its id {reason}")
