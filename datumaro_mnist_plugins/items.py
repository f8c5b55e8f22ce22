"""What keeps an import close to the cost of building its items: cheap items, no needless merge.

**Items.** ``DatasetItem`` and ``Label`` are attrs classes whose constructors run a converter or validator on
every field: about 10 µs an item here, more than everything else an import does. For the values our
formats produce (a str id and subset the checks accept unchanged, an image, an int label) the
constructor would store exactly what it was given, so we store it directly: the items are equal to
the constructor's, field for field. Anything else (an id with ``..`` or a backslash, a missing
subset, another Datumaro version whose classes have other fields) goes through the constructors,
which convert, check and raise as usual. ``Image.from_numpy`` likewise passes through four
``__init__`` methods to set four attributes; :func:`new_image` sets them, after checking once that
they are the ones a real call sets.

**Garbage collection.** Each item is four objects the cyclic collector tracks, and an import keeps
all of them alive: every few thousand allocations the collector walks the young ones again, and
every so often the whole heap. That costs about as much as building the items. None of them are
in reference cycles, so :func:`built_in_batches` builds items a batch at a time with the collector
paused and lets it run between batches: it then has fewer, larger young generations to walk. Only
our code runs while it is paused (and the import's progress reporter and error policy, when they
are called), never the caller's loop; the switch is process-wide, so another thread's garbage
waits for the end of a batch (about 2 ms) to be collected.

**Subsets.** Given several sources (one per subset), ``Dataset.import_from`` merges them item by
item into a store before the dataset's own cache copies them again. Subsets that share their
categories and never share an (id, subset) pair have nothing to merge: :func:`subsets_side_by_side`
(an importer's ``get_extractor_merger``) just reads them one after the other.
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from itertools import islice
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import attr
import numpy as np

from datumaro.components.annotation import Annotations, Label
from datumaro.components.dataset_base import DatasetItem, IDataset, SubsetBase
from datumaro.components.errors import DatasetExportError, DatasetImportError
from datumaro.components.media import Image, ImageFromNumpy, MediaElement
from datumaro.components.merge.exact_merge import ExactMerge
from datumaro.components.merge.extractor_merger import ExtractorMerger
from datumaro.util.os_util import contains_unsafe_path_component

from .checks import is_int
from .labels import NO_LABEL

_ITEM_FIELDS = ("id", "subset", "media", "annotations", "attributes")
_LABEL_FIELDS = ("id", "attributes", "group", "object_id", "label")
_new = object.__new__
_set = object.__setattr__


def _label_defaults() -> Optional[Tuple[int, int, int]]:
    """Label's defaults for ``id``, ``group`` and ``object_id`` (the fields we don't pass), if its layout is
    the one this module knows and setting a field is plain slot assignment."""
    try:
        fields = attr.fields(Label)
    except (TypeError, attr.exceptions.NotAnAttrsClassError):
        return None
    if (
        tuple(f.name for f in fields) != _LABEL_FIELDS
        or hasattr(Label, "__attrs_post_init__")
        or Label.__setattr__ is not object.__setattr__
    ):
        return None
    defaults = attr.fields_dict(Label)
    values = tuple(defaults[name].default for name in ("id", "group", "object_id"))
    return values if all(type(v) is int for v in values) else None


def _item_layout_known() -> bool:
    try:
        fields = attr.fields(DatasetItem)
    except (TypeError, attr.exceptions.NotAnAttrsClassError):
        return False
    return tuple(f.name for f in fields) == _ITEM_FIELDS and not hasattr(DatasetItem, "__attrs_post_init__")


def _image_dtype() -> Optional[type]:
    """The dtype ``Image.from_numpy(data=array)`` records, if that call sets exactly the attributes
    :func:`new_image` sets (``_dtype``, ``_ext``, ``_size``, ``_data``, in that order), else None."""
    probe = np.zeros((1, 1), np.uint8)
    try:
        image = Image.from_numpy(data=probe)
        state = vars(image)
        sized = vars(Image.from_numpy(data=probe, size=(1, 1)))
    except Exception:  # another Datumaro: keep to the real constructor
        return None
    if (
        sized != {**state, "_size": (1, 1)}
        or type(image) is not ImageFromNumpy
        or list(state) != ["_dtype", "_ext", "_size", "_data"]
        or state["_data"] is not probe
        or state["_ext"] is not None
        or state["_size"] is not None
    ):
        return None
    return state["_dtype"]


_LABEL_DEFAULTS = _label_defaults()
_ITEM_FAST = _item_layout_known() and _LABEL_DEFAULTS is not None
_IMAGE_DTYPE = _image_dtype()


def _subset_accepted_as_is(subset: object) -> bool:
    """:func:`_accepted_as_is` for a subset name, remembered: an import asks it once per item."""
    accepted = _ACCEPTED_SUBSETS.get(subset) if type(subset) is str else None
    if accepted is None:
        accepted = _accepted_as_is(subset)
        if type(subset) is str and len(_ACCEPTED_SUBSETS) < 1024:
            _ACCEPTED_SUBSETS[subset] = accepted
    return accepted


_ACCEPTED_SUBSETS: Dict[str, bool] = {}


def _accepted_as_is(name: object) -> bool:
    """True when DatasetItem's id/subset converter and checks would keep *name* unchanged.

    They replace backslashes, turn an empty subset into "default", and refuse empty ids, absolute
    paths and '..' components (which all contain '..').
    """
    return (
        type(name) is str
        and name[:1] not in ("", "/", "\\")
        and name[1:2] != ":"
        and ".." not in name
        and "\\" not in name
    )


def make_item(
    item_id: str,
    subset: str,
    label: Optional[int],
    media: Optional[MediaElement],
    attributes: Optional[dict] = None,
    label_attributes: Optional[dict] = None,
) -> DatasetItem:
    """``DatasetItem(id=item_id, subset=subset, media=media, attributes=attributes,
    annotations=[Label(label, attributes=label_attributes)])``, with no annotation when *label* is None
    or NO_LABEL: the constructors' result, without their per-field checks when those would pass."""
    if label is None or label == NO_LABEL:
        label = None
    elif type(label) is not int and is_int(label):
        label = int(label)
    attributes = {} if attributes is None else attributes
    label_attributes = {} if label_attributes is None else label_attributes
    if not (
        _ITEM_FAST
        and type(item_id) is str
        and (item_id.isdigit() or _accepted_as_is(item_id))  # digits: the usual id
        and _subset_accepted_as_is(subset)
        and (media is None or isinstance(media, MediaElement))
        and type(attributes) is dict
        and (label is None or (type(label) is int and type(label_attributes) is dict))
    ):
        annotations = [] if label is None else [Label(label, attributes=label_attributes)]
        return DatasetItem(id=item_id, subset=subset, media=media, annotations=annotations, attributes=attributes)
    annotations = Annotations()
    if label is not None:
        annotation = _new(Label)
        annotation.id, annotation.group, annotation.object_id = _LABEL_DEFAULTS
        annotation.attributes = label_attributes
        annotation.label = label
        annotations.append(annotation)
    item = _new(DatasetItem)
    _set(item, "id", item_id)
    _set(item, "subset", subset)
    _set(item, "media", media)
    _set(item, "annotations", annotations)
    _set(item, "attributes", attributes)
    return item


def image_size(shape: Sequence[int]) -> Optional[Tuple[int, int]]:
    """The ``size`` to pass :func:`new_image` for images of this shape: ``(height, width)`` of a 2-D image
    with pixels, else None (the constructor refuses a size with a 0 in it)."""
    return (int(shape[0]), int(shape[1])) if len(shape) == 2 and shape[0] > 0 and shape[1] > 0 else None


def new_image(data: np.ndarray, size: Optional[Tuple[int, int]] = None) -> Image:
    """``Image.from_numpy(data=data, size=size)``; *size* is None or :func:`image_size` of the array's shape.

    Passing the size saves building a tuple on the first read of every image: callers pass one tuple
    for all their images (tuples are immutable, so sharing it is safe). *data* may also be a callable
    that returns the pixels (a lazy image), stored as the constructor stores it.
    """
    if _IMAGE_DTYPE is None or (type(data) is not np.ndarray and not callable(data)):
        return Image.from_numpy(data=data, size=size)
    image = _new(ImageFromNumpy)
    image._dtype = _IMAGE_DTYPE
    image._ext = None
    image._size = size
    image._data = data
    return image


#: Items built per pause of the garbage collector: enough to make its runs rare, few to stay lazy.
_BATCH = 1024


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def built_in_batches(build: Callable[[int], Optional[DatasetItem]], indices: Iterable[int]) -> Iterator[DatasetItem]:
    """``build(index)`` for each index, the items built a batch at a time with the cyclic GC paused.

    *build* returns None for an index it skips (an error the policy let pass). If it raises, the
    items built before are yielded first, as if they had been built one at a time.
    """
    indices = iter(indices)
    while True:
        batch: List[Optional[DatasetItem]] = []
        failure = None
        with _gc_paused():
            try:
                batch.extend(build(index) for index in islice(indices, _BATCH))
            except Exception as error:
                failure = error
        yield from (item for item in batch if item is not None)
        if failure is not None:
            raise failure
        if len(batch) < _BATCH:
            return


class _SideBySide(ExtractorMerger):
    """Datumaro's merger of single-subset sources, with their annotation types (it drops them)."""

    def __init__(self, sources: Sequence[SubsetBase]):
        super().__init__(sources)
        self._ann_types = set().union(*(source.ann_types() for source in sources))


def subsets_side_by_side(sources: Sequence[SubsetBase]) -> IDataset:
    """The sources as one dataset, read lazily, when they are distinct subsets with the same categories.

    Otherwise Datumaro's usual exact merge, with its checks and errors.
    """
    first = sources[0] if sources else None
    if (
        first is not None
        and len({source.subset for source in sources}) == len(sources)
        and all(source.categories() == first.categories() for source in sources)
        and all(source.media_type() is first.media_type() for source in sources)
        and all(source.infos() == first.infos() and source.is_stream == first.is_stream for source in sources)
    ):
        return _SideBySide(sources)
    return ExactMerge()(*sources)


# --- the id rule: one place says which ids (and subset names) Datumaro takes ---------------------------


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


def check_export_id(item_id: str, describe: Callable[[], str]) -> None:
    reason = unsafe_id_reason(item_id)
    if reason:
        raise DatasetExportError(f"{describe()}: its id {reason}")


def subset_from_file(path: str, subset: str) -> str:
    """*subset*, the name *path*'s file name gives, if Datumaro takes it as a subset name; else a clear error."""
    reason = unsafe_id_reason(subset)
    if reason:
        raise DatasetImportError(f"{path}: the file name gives the subset name {subset!r}, which {reason}")
    return subset
