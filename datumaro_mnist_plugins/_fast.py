"""What keeps an import close to the cost of building its items: cheap items, no needless merge.

**Items.** ``DatasetItem`` and ``Label`` are attrs classes whose constructors run a converter or validator on
every field: about 10 µs an item here, more than everything else an import does. For the values our
formats produce (a str id and subset the checks accept unchanged, an image, an int label) the
constructor would store exactly what it was given, so we store it directly: the items are equal to
the constructor's, field for field. Anything else (an id with ``..`` or a backslash, a missing
subset, another Datumaro version whose classes have other fields) goes through the constructors,
which convert, check and raise as usual.

**Subsets.** Given several sources (one per subset), ``Dataset.import_from`` merges them item by
item into a store before the dataset's own cache copies them again. Subsets that share their
categories and never share an (id, subset) pair have nothing to merge: :func:`subsets_side_by_side`
(an importer's ``get_extractor_merger``) just reads them one after the other.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import attr

from datumaro.components.annotation import Annotation, Annotations, Label
from datumaro.components.dataset_base import DatasetItem, IDataset, SubsetBase
from datumaro.components.media import MediaElement
from datumaro.components.merge.exact_merge import ExactMerge
from datumaro.components.merge.extractor_merger import ExtractorMerger

_ITEM_FIELDS = ("id", "subset", "media", "annotations", "attributes")
_LABEL_FIELDS = ("id", "attributes", "group", "object_id", "label")
_new = object.__new__
_set = object.__setattr__


def _label_defaults() -> Optional[dict]:
    """Label's defaults for the fields we don't pass, if its layout is the one this module knows."""
    try:
        fields = attr.fields(Label)
    except (TypeError, attr.exceptions.NotAnAttrsClassError):
        return None
    if tuple(f.name for f in fields) != _LABEL_FIELDS or hasattr(Label, "__attrs_post_init__"):
        return None
    defaults = {f.name: f.default for f in fields if f.name in ("id", "group", "object_id")}
    return defaults if all(type(v) is int for v in defaults.values()) else None


def _item_layout_known() -> bool:
    try:
        fields = attr.fields(DatasetItem)
    except (TypeError, attr.exceptions.NotAnAttrsClassError):
        return False
    return tuple(f.name for f in fields) == _ITEM_FIELDS and not hasattr(DatasetItem, "__attrs_post_init__")


_LABEL_DEFAULTS = _label_defaults()
_ITEM_FAST = _item_layout_known()


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


def new_label(label: int, attributes: dict) -> Label:
    """``Label(label, attributes=attributes)``."""
    if _LABEL_DEFAULTS is None or type(label) is not int or type(attributes) is not dict:
        return Label(label, attributes=attributes)
    annotation = _new(Label)
    for name, value in _LABEL_DEFAULTS.items():
        _set(annotation, name, value)
    _set(annotation, "attributes", attributes)
    _set(annotation, "label", label)
    return annotation


def new_item(
    item_id: str, subset: str, media: Optional[MediaElement], annotations: List[Annotation], attributes: dict
) -> DatasetItem:
    """``DatasetItem(id=item_id, subset=subset, media=media, annotations=annotations, attributes=attributes)``."""
    if not (
        _ITEM_FAST
        and _accepted_as_is(item_id)
        and _accepted_as_is(subset)
        and (media is None or isinstance(media, MediaElement))
        and type(attributes) is dict
    ):
        return DatasetItem(id=item_id, subset=subset, media=media, annotations=annotations, attributes=attributes)
    item = _new(DatasetItem)
    _set(item, "id", item_id)
    _set(item, "subset", subset)
    _set(item, "media", media)
    _set(item, "annotations", Annotations(annotations))
    _set(item, "attributes", attributes)
    return item


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
