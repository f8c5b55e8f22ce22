"""Which IDX files a folder holds: the subsets, each file picked once, and the dataset folders under a root.

What the ``mnist`` importer finds here it hands to the extractor (:class:`SubsetFiles`, with the images
header once read), so a folder is scanned and a header parsed once per import.
"""

from __future__ import annotations

import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from datumaro.components.errors import DatasetImportError

from . import family
from .codecs import idx
from .files import is_present, recover_interrupted_export, refuse_shared_subsets
from .items import subset_from_file
from .sidecar import IDX_SIDECAR_SUFFIX

IMAGES_KIND = "images-idx3-ubyte"
LABELS_KIND = "labels-idx1-ubyte"
KINDS = (IMAGES_KIND, LABELS_KIND, family.EXTENDED_LABELS_KIND)
#: The endings of the files we read and write, cheapest to read first: a folder holding one file several
#: ways (torchvision keeps raw and .gz) is read from the first.
COMPRESSIONS = ("", *idx.OPENERS)
#: The name of a data file (a pattern, for a format's patterns of what it owns).
DATA_NAME = rf"(?P<prefix>.+)-(?P<kind>{'|'.join(KINDS)})(?P<compression>{'|'.join(map(re.escape, idx.OPENERS))})?"
DATA_FILE = re.compile(rf"^{DATA_NAME}$")
#: When a subset has both labels files (QMNIST ships both), read the one that says more.
_LABELS_PREFERENCE = (family.EXTENDED_LABELS_KIND, LABELS_KIND)


@dataclass
class SubsetFiles:
    """The files of one subset in a folder, and its images header once read."""

    folder: str
    prefix: str
    images: Optional[str] = None
    labels: Optional[str] = None
    _header: Optional[Tuple[np.dtype, Tuple[int, ...]]] = field(default=None, repr=False, compare=False)

    @property
    def subset(self) -> str:
        return subset_from_file(self.labels or self.images or self.prefix, family.parse_prefix(self.prefix).subset)

    @property
    def split(self) -> Optional[str]:
        """The EMNIST split, or None."""
        return family.parse_prefix(self.prefix).split

    @property
    def transposed(self) -> bool:
        return family.parse_prefix(self.prefix).transposed

    @property
    def sidecar(self) -> Optional[str]:
        path = osp.join(self.folder, family.subset_of(self.prefix) + IDX_SIDECAR_SUFFIX)
        return path if is_present(path) else None

    @property
    def labels_kind(self) -> Optional[str]:
        return DATA_FILE.match(osp.basename(self.labels))["kind"] if self.labels else None

    def images_header(self) -> Tuple[np.dtype, Tuple[int, ...]]:
        """The images file's (dtype, shape), read on first use only."""
        if self._header is None:
            try:
                self._header = idx.read_header(self.images)
            except idx.IdxFormatError as e:
                raise DatasetImportError(f"{self.images}: not an IDX images file ({e})") from None
        return self._header


def find_subsets(folder: str) -> List[SubsetFiles]:
    """The subsets whose IDX files are in *folder*, each file picked once whatever its compression.

    Their paths are absolute: images kept as files beside them (``images/<subset>/``) are read later, and
    must still be found if the working directory changes meanwhile.
    """
    folder = osp.abspath(folder)
    choices: Dict[str, Dict[str, List[str]]] = {}
    for name in sorted(os.listdir(folder)):
        match = DATA_FILE.match(name)
        if match and is_present(osp.join(folder, name)):  # a directory or FIFO named so is an error
            kinds = choices.setdefault(match["prefix"], {})
            kinds.setdefault(match["kind"], []).append(name)
    subsets = []
    for prefix, kinds in choices.items():
        best = {
            kind: osp.join(folder, min(names, key=lambda n: COMPRESSIONS.index(idx.compression_of(n))))
            for kind, names in kinds.items()
        }
        labels = next((best[kind] for kind in _LABELS_PREFERENCE if kind in best), None)
        subsets.append(SubsetFiles(folder, prefix, images=best.get(IMAGES_KIND), labels=labels))
    return subsets


def subset_files_of(path: str) -> SubsetFiles:
    """The subset *path* (an images or labels file) belongs to, with the other files of its folder."""
    match = DATA_FILE.match(osp.basename(path))
    if not osp.isfile(path) or not match:
        raise DatasetImportError(f"{path}: not an MNIST images or labels file")
    return next(f for f in find_subsets(osp.dirname(path)) if f.prefix == match["prefix"])


def dataset_folders(root: str, max_depth: int) -> List[Tuple[str, List[SubsetFiles]]]:
    """Folders under *root* (itself included) that hold IDX files, breadth first, with their subsets.

    A folder with IDX files is a dataset: its subfolders are not searched (its ``images/`` folder, a
    copy of it one level down).
    """
    found = []
    level = [root]
    for _ in range(max_depth + 1):
        next_level = []
        for folder in level:
            try:
                if folder != root:
                    recover_interrupted_export(folder)  # the root's was, by the caller
                subsets = find_subsets(folder)
                if subsets:
                    found.append((folder, subsets))
                    continue
                next_level += sorted(e.path for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
            except OSError:
                continue
        level = next_level
    return found


def subsets_to_import(path: str, split: Optional[str], max_depth: int) -> List[Tuple[SubsetFiles, Dict]]:
    """The subsets under the folder *path* to import, each with its extractor's options: those of one EMNIST
    split per folder; when several folders hold datasets, subsets prefixed by the folder, and one set of
    class names for all."""
    found = dataset_folders(path, max_depth)
    chosen = [(folder, of_split(folder, subsets, split)) for folder, subsets in found]
    chosen = [(folder, subsets) for folder, subsets in chosen if subsets]
    if split is not None and not any(files.split == split for _, subsets in chosen for files in subsets):
        splits = sorted({files.split for _, subsets in found for files in subsets if files.split})
        raise DatasetImportError(
            f"{path}: no EMNIST split '{split}' here (EMNIST splits found: {', '.join(splits) or 'none'})"
        )
    if len(chosen) <= 1:
        refuse_shared_subsets((files.subset, files.labels or files.images) for _, subsets in chosen for files in subsets)
        return [(files, {}) for _, subsets in chosen for files in subsets]
    names = family.merged_names([family.label_names(folder, split_of(subsets)) for folder, subsets in chosen])
    named = [
        (f"{family.dataset_name(path, folder)}-{files.subset}", files) for folder, subsets in chosen for files in subsets
    ]
    refuse_shared_subsets((subset, files.labels or files.images) for subset, files in named)
    return [(files, {"subset": subset, "label_names": names}) for subset, files in named]


def split_of(subsets: List[SubsetFiles]) -> Optional[str]:
    """The EMNIST split of a folder's chosen subsets, or None."""
    return next((files.split for files in subsets if files.split), None)


def of_split(folder: str, subsets: List[SubsetFiles], split: Optional[str]) -> List[SubsetFiles]:
    """The subsets of *folder* to import: its MNIST-named ones, and those of one EMNIST split."""
    splits = sorted({files.split for files in subsets if files.split})
    if split is None and len(splits) > 1:
        raise DatasetImportError(
            f"{folder}: holds the EMNIST splits {', '.join(splits)}, each with its own classes; import one with "
            f"the import option split (Dataset.import_from(path, 'mnist', split='{splits[0]}')), "
            "or (the datum CLI passes no import options) point at a folder or a file of one split"
        )
    wanted = split if split is not None else (splits[0] if splits else None)
    return [files for files in subsets if files.split in (None, wanted)]
