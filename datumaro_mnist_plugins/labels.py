"""Class names: one precedence chain (dataset_meta.json > labels.txt > defaults), read and written here."""

from __future__ import annotations

import json
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Set

import numpy as np

from datumaro.components.annotation import AnnotationType, LabelCategories
from datumaro.components.errors import DatasetImportError
from datumaro.util.meta_file_util import DATASET_META_FILE, save_meta_file

from .files import is_present, read_side_file

#: Datumaro's "this item has no label" value in MNIST label files.
NO_LABEL = 255

LABELS_FILE = "labels.txt"


def load_label_names(dataset_dir: str, default: Sequence[str] = tuple("0123456789")) -> List[str]:
    """The class names of a dataset folder, in label-index order: its files' (see names_from_files), else *default*."""
    names = names_from_files(dataset_dir)
    return list(default) if names is None else names


def names_from_files(dataset_dir: str) -> Optional[List[str]]:
    """The class names a dataset folder's files give, None if it has neither file.

    ``dataset_meta.json`` (Datumaro's meta file) wins over ``labels.txt`` (one name per line; a BOM,
    CRLF line ends and blank lines are tolerated). The one statement of that precedence.
    """
    meta_path = osp.join(dataset_dir, DATASET_META_FILE)
    if is_present(meta_path):
        return _names_from_meta_file(meta_path)
    labels_path = osp.join(dataset_dir, LABELS_FILE)
    if is_present(labels_path):
        return _names_from_labels_file(labels_path)
    return None


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


def out_of_range(labels: np.ndarray, count: int) -> Set[int]:
    """The items whose label is no class of *count* classes (nor NO_LABEL)."""
    return set(np.flatnonzero(((labels < 0) | (labels >= count)) & (labels != NO_LABEL)).tolist())


def renumbered(labels: np.ndarray, own: List[str], merged: List[str], path: str) -> np.ndarray:
    """Labels that index *own* names as indices into *merged* (the categories of several folders, by name);
    labels out of range and NO_LABEL are left as they are, for the extractor to report."""
    position = {name: i for i, name in enumerate(merged)}
    missing = [name for name in own if name not in position]
    if missing:
        raise DatasetImportError(f"{path}: classes {missing} are not in the dataset's categories")
    if not own:
        return labels
    index_of = np.array([position[name] for name in own], dtype=np.int64)
    valid = (labels >= 0) & (labels < len(own))
    return np.where(valid, index_of[np.where(valid, labels, 0)], labels)


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
