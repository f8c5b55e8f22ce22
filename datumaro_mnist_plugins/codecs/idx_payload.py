"""The values of an IDX file, read a range at a time into arrays this process owns (a pure module).

A raw file used to be memory-mapped. A mapped file that shrinks under us (truncated, rewritten in
place) kills the interpreter with SIGBUS the moment a lost page is touched: no ``try`` can catch it.
Bounded positional reads (``os.preadv`` into a fresh buffer) cost the same one copy the page cache
did, and a short read is an error naming the file. The file stays open, so one replaced by a rename
(an export into the folder it was imported from) keeps being read as it was. A compressed file is
inflated once, whole, by :func:`idx.read_idx`; its payload is that array.
"""

from __future__ import annotations

import os
import threading
from typing import Optional, Tuple

import numpy as np

from . import idx

#: One read asks for at most this many bytes (Linux caps a single read just under 2 GiB).
_MAX_READ = 1 << 30


class IdxPayload:
    """The flat values of one IDX file; :meth:`read` returns a range of them as a new 1-D array."""

    def __init__(self, path: str, dtype: np.dtype, size: int, *, offset: int = 0, array=None, file=None):
        self.path = path
        self.dtype = dtype
        self.size = size  # values, not bytes
        self._offset = offset
        self._array = array
        self._file = file
        self._lock = threading.Lock()  # seek + readinto where there is no preadv

    def read(self, first: int, count: int) -> np.ndarray:
        """Values ``first .. first + count`` (native byte order); a file that lost them is an IdxFormatError."""
        if not 0 <= first <= first + count <= self.size:
            raise IndexError(f"{self.path}: values {first}..{first + count} of {self.size}")
        if self._array is not None:
            values = self._array[first : first + count]
        else:
            values = np.empty(count, self.dtype)
            self._read_into(memoryview(values).cast("B"), self._offset + first * self.dtype.itemsize)
        return values if values.dtype.isnative else values.astype(values.dtype.newbyteorder("="))

    def _read_into(self, buffer: memoryview, offset: int) -> None:
        done = 0
        while done < len(buffer):
            part = buffer[done : done + _MAX_READ]
            try:
                if hasattr(os, "preadv"):
                    got = os.preadv(self._file.fileno(), [part], offset + done)
                else:
                    with self._lock:
                        self._file.seek(offset + done)
                        got = self._file.readinto(part)
            except (OSError, ValueError) as e:  # ValueError: the file was closed
                raise idx.IdxFormatError(self.path, f"can't read the file any more ({e})", offset + done) from e
            if not got:
                raise idx.IdxFormatError(
                    self.path,
                    f"file changed while being read: it ends before byte {offset + len(buffer)} "
                    f"(truncated or rewritten since it was opened)",
                    offset + done,
                )
            done += got

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def open_payload(path: str, *, flat_count: Optional[int] = None) -> Tuple[IdxPayload, Tuple[int, ...]]:
    """The payload of the IDX file at *path* and its shape (``(flat_count,)`` when given, as in read_idx).

    A raw file is checked to be a regular file holding exactly what its header promises, and kept open.
    """
    if idx.check_container(path):
        array = idx.read_idx(path, flat_count=flat_count)
        return IdxPayload(path, array.dtype, array.size, array=array.reshape(-1)), array.shape
    file = idx.open_regular(path)
    try:
        dtype, shape, header_size = idx._read_header_from(path, file)
        if flat_count is not None:
            shape = (flat_count,)
        size = idx.payload_size(dtype, shape)
        actual = os.fstat(file.fileno()).st_size - header_size
        if actual != size:
            what = "truncated" if actual < size else "longer than its header says"
            raise idx.IdxFormatError(
                path, f"data {what}: header promises {size} bytes, file holds {actual}", header_size + min(actual, size)
            )
    except BaseException:
        file.close()
        raise
    return IdxPayload(path, dtype, size // dtype.itemsize, offset=header_size, file=file), tuple(shape)
