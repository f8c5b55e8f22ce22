"""The IDX file format (LeCun's MNIST container), as a small pure module.

An IDX file is a 4-byte magic number ``00 00 <type code> <number of dims>``, then each dimension as a
big-endian uint32, then the values in C order, big-endian. This module reads and writes that, with the
compression MNIST files travel in (raw, ``.gz``, ``.xz``, ``.bz2``), and nothing else: no Datumaro
import, so it can be used (and fuzzed) alone. Errors are :class:`IdxFormatError` naming the file and the
byte offset; the Datumaro layer turns them into Datumaro errors.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import zlib
from typing import IO, BinaryIO, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

#: IDX type code -> numpy dtype (always big-endian on disk), as in the format's specification.
IDX_DTYPES: Dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: numpy dtype (native or not) -> IDX type code.
IDX_TYPE_CODES: Dict[np.dtype, int] = {
    dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()
}

#: Compression by file suffix -> the function that opens such a file for binary reading or writing.
OPENERS: Dict[str, Callable[..., IO[bytes]]] = {
    ".gz": gzip.open,
    ".xz": lzma.open,
    ".bz2": bz2.open,
}
#: What a compressed file starts with, to tell a mislabeled or truncated download early.
COMPRESSED_MAGIC: Dict[str, bytes] = {".gz": b"\x1f\x8b", ".xz": b"\xfd7zXZ\x00", ".bz2": b"BZh"}

#: An IDX header may declare at most this many dimensions (the type byte allows 255; no real file has more).
MAX_DIMS = 16
_READ_CHUNK = 1 << 22
#: What a damaged compressed stream raises while being read.
_DECOMPRESSION_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error)


class IdxFormatError(ValueError):
    """A file is not valid IDX; the message names the file and where it goes wrong."""

    def __init__(self, path: str, message: str, offset: Optional[int] = None):
        self.path = path
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}: {message}{where}")


def compression_of(path: str) -> str:
    """The compression suffix of *path* ('.gz', '.xz', '.bz2') or '' for a raw file."""
    suffix = os.path.splitext(path)[1].lower()
    return suffix if suffix in OPENERS else ""


def strip_compression(name: str) -> str:
    """``train-images-idx3-ubyte.gz`` -> ``train-images-idx3-ubyte``."""
    return name[: -len(compression_of(name))] if compression_of(name) else name


def open_binary(path: str, mode: str = "rb", compress_level: int = 6) -> IO[bytes]:
    """Open *path* for binary I/O, (de)compressing by its suffix."""
    suffix = compression_of(path)
    if not suffix:
        return open(path, mode)
    if "w" in mode:
        if suffix == ".xz":
            return lzma.open(path, mode, preset=compress_level)
        if suffix == ".gz":
            # mtime=0 keeps exports reproducible byte for byte
            return gzip.GzipFile(path, mode, compresslevel=compress_level, mtime=0)
        return OPENERS[suffix](path, mode, compresslevel=max(compress_level, 1))
    return OPENERS[suffix](path, mode)


def parse_header(path: str, head: bytes) -> Tuple[np.dtype, Tuple[int, ...], int]:
    """Decode the magic number and dimensions at the start of an IDX file.

    Returns the value dtype, the shape, and the header length in bytes.
    """
    if len(head) < 4:
        raise IdxFormatError(path, f"file too short for an IDX magic number ({len(head)} bytes)", 0)
    zero1, zero2, type_code, ndims = head[:4]
    if zero1 or zero2:
        raise IdxFormatError(path, f"bad magic number 0x{head[:4].hex()} (an IDX file starts with 00 00)", 0)
    dtype = IDX_DTYPES.get(type_code)
    if dtype is None:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IdxFormatError(path, f"unknown IDX type code 0x{type_code:02X} (known: {known})", 2)
    if ndims > MAX_DIMS:
        raise IdxFormatError(path, f"{ndims} dimensions declared (at most {MAX_DIMS} supported)", 3)
    header_size = 4 + 4 * ndims
    if len(head) < header_size:
        raise IdxFormatError(path, f"header truncated: {ndims} dimensions need {header_size} bytes", len(head))
    shape = struct.unpack(f">{ndims}I", head[4:header_size])
    return dtype, shape, header_size


def read_header(path: str) -> Tuple[np.dtype, Tuple[int, ...]]:
    """The dtype and shape an IDX file declares, reading only its header."""
    try:
        with open_binary(path) as stream:
            head = stream.read(4)
            if len(head) == 4:
                head += stream.read(4 * head[3])
    except _DECOMPRESSION_ERRORS as e:
        raise IdxFormatError(path, f"compressed data is corrupt or truncated ({e})", 0) from e
    dtype, shape, _ = parse_header(path, head)
    return dtype, shape


def payload_size(dtype: np.dtype, shape: Sequence[int]) -> int:
    """Bytes of data an IDX header promises (Python ints: no overflow for absurd headers)."""
    count = 1
    for dim in shape:
        count *= int(dim)
    return count * dtype.itemsize


def _read_exactly(path: str, stream: BinaryIO, size: int, offset: int) -> bytearray:
    """Read *size* bytes in chunks, so a lying header cannot make us allocate what the file doesn't hold."""
    buffer = bytearray()
    while len(buffer) < size:
        try:
            chunk = stream.read(min(_READ_CHUNK, size - len(buffer)))
        except _DECOMPRESSION_ERRORS as e:
            raise IdxFormatError(path, f"compressed data is corrupt or truncated ({e})", offset + len(buffer)) from e
        if not chunk:
            raise IdxFormatError(
                path, f"data truncated: header promises {size} bytes, file holds {len(buffer)}", offset + len(buffer)
            )
        buffer += chunk
    return buffer


def read_idx(path: str, *, mmap: bool = True, flat_count: Optional[int] = None) -> np.ndarray:
    """Read an IDX file into an array of its declared shape and dtype (big-endian dtypes kept as views).

    A raw file is memory-mapped (read-only) when *mmap* is true, so a million-image file costs no RAM
    until its images are touched. A compressed file is inflated only up to the size its header implies:
    a payload shorter or longer than promised (or a decompression bomb) is an error.

    *flat_count* reads the data as a flat array of that many values of the declared type instead,
    whatever the dimensions say: images of mixed sizes, whose sizes live in a sidecar.
    """
    compression = compression_of(path)
    with open(path, "rb") as raw:
        magic = raw.read(6)
    if compression and not magic.startswith(COMPRESSED_MAGIC[compression]):
        raise IdxFormatError(path, f"not a {compression} file (it starts with 0x{magic[:4].hex()})", 0)
    if not compression and any(magic.startswith(m) for m in COMPRESSED_MAGIC.values()):
        raise IdxFormatError(path, "file is compressed but its name has no .gz/.xz/.bz2 suffix", 0)

    with open_binary(path) as stream:
        try:
            head = stream.read(4)
            if len(head) == 4:
                head += stream.read(4 * head[3])
        except _DECOMPRESSION_ERRORS as e:
            raise IdxFormatError(path, f"compressed data is corrupt or truncated ({e})", 0) from e
        dtype, shape, header_size = parse_header(path, head)
        if flat_count is not None:
            shape = (flat_count,)
        size = payload_size(dtype, shape)

        if not compression:
            actual = os.path.getsize(path) - header_size
            if actual != size:
                what = "truncated" if actual < size else "longer than its header says"
                raise IdxFormatError(
                    path, f"data {what}: header promises {size} bytes, file holds {actual}", header_size + min(actual, size)
                )
            if mmap and size:
                return np.memmap(path, dtype=dtype, mode="r", offset=header_size, shape=tuple(shape))
            return np.fromfile(stream, dtype=dtype, count=size // dtype.itemsize).reshape(shape)

        data = _read_exactly(path, stream, size, header_size)
        try:
            extra = stream.read(1)
        except _DECOMPRESSION_ERRORS:
            extra = b""  # the payload is complete; damage after it is not our data
        if extra:
            raise IdxFormatError(path, f"data longer than its header says ({size} bytes)", header_size + size)
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def header_bytes(dtype: np.dtype, shape: Sequence[int]) -> bytes:
    """The magic number and dimensions for an IDX file of *shape* and *dtype*."""
    code = IDX_TYPE_CODES.get(np.dtype(dtype).newbyteorder("="))
    if code is None:
        raise ValueError(f"dtype {np.dtype(dtype)} has no IDX type code")
    if len(shape) > MAX_DIMS:
        raise ValueError(f"{len(shape)} dimensions: IDX allows at most {MAX_DIMS} here")
    if any(not 0 <= int(d) < 2**32 for d in shape):
        raise ValueError(f"shape {tuple(shape)} does not fit IDX's uint32 dimensions")
    return bytes((0, 0, code, len(shape))) + struct.pack(f">{len(shape)}I", *shape)


def to_big_endian(array: np.ndarray) -> np.ndarray:
    """The same values in IDX's on-disk byte order (a no-op for bytes)."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))


def write_idx(path: str, array: np.ndarray, *, compress_level: int = 6) -> None:
    """Write *array* as an IDX file (compressed by *path*'s suffix)."""
    array = np.asarray(array)
    with open_binary(path, "wb", compress_level) as f:
        f.write(header_bytes(array.dtype, array.shape))
        f.write(memoryview(to_big_endian(array)).cast("B"))


def write_idx_from_stream(
    path: str, dtype: np.dtype, shape: Sequence[int], payload: BinaryIO, *, compress_level: int = 6
) -> None:
    """Write an IDX file whose values (already big-endian) are read from the file object *payload*."""
    with open_binary(path, "wb", compress_level) as f:
        f.write(header_bytes(dtype, shape))
        while True:
            chunk = payload.read(_READ_CHUNK)
            if not chunk:
                break
            f.write(chunk)
