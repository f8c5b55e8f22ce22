"""Reading what a dataset folder holds: is a file there, a small side file's bytes, image files by id.

Every importer goes through these, so that a FIFO, a device or a huge file where a small file is
expected is an error naming it, never a hang or a silent skip.
"""

from __future__ import annotations

import functools
import os
import os.path as osp
import stat
from contextlib import ExitStack, contextmanager
from typing import Callable, Dict, Iterable, Iterator, Tuple

from datumaro.components.errors import DatasetImportError

from .codecs import idx
from .transaction import Destination, flocked, recover


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


@contextmanager
def consistent_read(folder: str) -> Iterator[None]:
    """Hold off commits to *folder* while the body opens its files: they are all the old export's, or
    all the new one's (a commit replaces names, not files already open). The lock is held only while an
    extractor opens (and reads what it reads up front) and a commit only while it moves entries."""
    dest = Destination.of(folder)
    while True:
        with ExitStack() as lock:
            try:
                lock.enter_context(flocked(dest.readers, shared=True))
            except OSError:  # a folder we may read but not write beside: no export can commit there either
                pass
            if not osp.lexists(dest.journal):
                yield
                return
        recover_interrupted_export(folder)  # an interrupted commit: finished first (it takes the lock)


def opens_one_export(init: Callable) -> Callable:
    """For an extractor's ``__init__(self, path, ...)``: the files it opens come from one export of the
    folder holding *path*, never some from before a commit and some from after (see consistent_read)."""

    @functools.wraps(init)
    def opening(self, path: str, *args, **kwargs) -> None:
        with consistent_read(osp.dirname(osp.abspath(path))):
            init(self, path, *args, **kwargs)

    return opening
