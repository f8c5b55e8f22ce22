"""Reading what a dataset folder holds: is a file there, a small side file's bytes, image files by id.

Every importer goes through these, so that a FIFO, a device or a huge file where a small file is
expected is an error naming it, never a hang or a silent skip.
"""

from __future__ import annotations

import os
import os.path as osp
import stat
from typing import Dict, Iterable, Tuple

from datumaro.components.errors import DatasetImportError

from .codecs import idx
from .transaction import recover


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
