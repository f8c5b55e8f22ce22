"""Which subset names an export can write: each must come back as itself, in files of its own.

A file format names its files after subsets (``t10k-images-idx3-ubyte.gz``, ``mnist_train.csv``), and its
importer reads the subset back from those names. Two subsets can land in one file (``test`` and ``t10k``
are both ``t10k-*``), and a name can read back as another subset (``emnist-digits-train`` is EMNIST's
``train``, transposed). Rather than list such names, an exporter describes the files it would write
(:class:`SubsetFile`) and how its importer reads a file name; :func:`check_subset_names` then proves
every subset round-trips, before anything is written, or names the subsets that can't.
"""

from __future__ import annotations

import unicodedata
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional

from datumaro.components.errors import DatasetExportError

#: The longest file name (in UTF-8 bytes) that common file systems hold.
MAX_NAME_BYTES = 255


class SubsetFile(NamedTuple):
    """A file (or folder) an export may write for a subset, and what its importer must make of it."""

    name: str
    #: "data": the importer must read this subset from the name; "aux": the importer must not take it
    #: for a data file; "folder": only the name must be its own.
    role: str


def unfit_name_reason(subset: str) -> Optional[str]:
    """Why no file name can hold *subset* (on any common file system), or None."""
    if not subset:
        return "is empty"
    if subset in (".", ".."):
        return "is a folder reference"
    bad = sorted({c for c in subset if c in "/\\" or ord(c) < 32 or ord(c) == 127})
    if bad:
        return f"holds {', '.join(map(repr, bad))}, which file names can't"
    try:
        subset.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"holds {e.object[e.start:e.end]!r}, which is not text"
    return None


def same_file_key(name: str) -> str:
    """Names equal under this key are one file on case-insensitive or normalizing file systems."""
    return unicodedata.normalize("NFC", name).casefold()


def check_subset_names(
    format_name: str,
    subsets: Iterable[str],
    files_of: Callable[[str], List[SubsetFile]],
    subset_of_file: Callable[[str], Optional[str]],
) -> None:
    """Refuse, before anything is written, subset names that would not import back as themselves.

    *files_of* gives the files an export writes for a subset; *subset_of_file* is the importer's
    reading of a file name (None: not a data file).
    """
    owners: Dict[str, str] = {}
    for subset in subsets:
        reason = unfit_name_reason(subset)
        if reason:
            raise DatasetExportError(f"{format_name}: subset name {subset!r} {reason}")
        for file in files_of(subset):
            _check_file(format_name, subset, file, owners, subset_of_file)


def _check_file(format_name, subset, file: SubsetFile, owners: Dict[str, str], subset_of_file) -> None:
    if len(file.name.encode("utf-8")) > MAX_NAME_BYTES:
        raise DatasetExportError(
            f"{format_name}: subset name {subset!r} is too long: its file {file.name!r} would exceed "
            f"{MAX_NAME_BYTES} bytes"
        )
    key = (file.role == "folder", same_file_key(file.name))
    other = owners.setdefault(key, subset)
    if other != subset:
        raise DatasetExportError(
            f"{format_name}: subsets {other!r} and {subset!r} would both be written to {file.name!r} "
            "(file names that differ only in case are one file on some systems); rename one of them"
        )
    if file.role == "folder":
        return
    read_back = subset_of_file(file.name)
    if file.role == "data" and read_back != subset:
        raise DatasetExportError(
            f"{format_name}: subset {subset!r} would be written to {file.name!r}, which imports as "
            + (f"subset {read_back!r}" if read_back is not None else "no subset")
            + "; rename the subset"
        )
    if file.role == "aux" and read_back is not None:
        raise DatasetExportError(
            f"{format_name}: subset {subset!r} needs the file {file.name!r}, which would import as "
            f"the data of subset {read_back!r}; rename the subset"
        )
