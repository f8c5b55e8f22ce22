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
import io
import lzma
import os
import stat
import struct
import zlib
from typing import IO, BinaryIO, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .gzip_blocks import BlockGzipWriter

try:
    import _compression  # the reader LZMAFile itself uses; LZMAFile takes no memory limit
except ImportError:  # pragma: no cover - Python 3.14 moved it
    from compression._common import _streams as _compression

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


def open_binary(path: str, mode: str = "rb", compress_level: int = 6) -> IO[bytes]:
    """Open *path* for binary I/O, (de)compressing by its suffix."""
    suffix = compression_of(path)
    if not suffix:
        return open(path, mode)
    if "w" in mode:
        if suffix == ".xz":
            return lzma.open(path, mode, preset=compress_level)
        if suffix == ".gz":
            return BlockGzipWriter(path, compress_level)
        return OPENERS[suffix](path, mode, compresslevel=max(compress_level, 1))
    if suffix == ".xz":
        return _XzReader(path)
    return OPENERS[suffix](path, mode)


#: The most memory an .xz file may make us spend decompressing it: what ``xz -9`` files need (a 64 MiB
#: dictionary) and a little more. A header declaring a 4 GiB dictionary is refused before it is allocated.
XZ_MEMLIMIT = 80 << 20


class _XzReader(io.BufferedReader):
    """``lzma.open(path)`` with a memory limit on the decoder."""

    def __init__(self, path: str):
        self._source = open(path, "rb")
        try:
            decoder = _compression.DecompressReader(
                self._source, lzma.LZMADecompressor, trailing_error=lzma.LZMAError, memlimit=XZ_MEMLIMIT
            )
            super().__init__(decoder, buffer_size=io.DEFAULT_BUFFER_SIZE)
        except BaseException:
            self._source.close()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._source.close()


def _corrupt(path: str, error: Exception, offset: int) -> "IdxFormatError":
    """The error for a compressed stream that fails to decompress."""
    if isinstance(error, lzma.LZMAError) and "memory" in str(error).lower():
        return IdxFormatError(
            path, f"decompressing it needs more than the {XZ_MEMLIMIT >> 20} MiB allowed (an xz dictionary "
            "larger than any xz preset uses)", offset
        )
    return IdxFormatError(path, f"compressed data is corrupt or truncated ({error})", offset)


_MAX_ARRAY_BYTES = np.iinfo(np.intp).max


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
    if payload_size(dtype, [dim for dim in shape if dim]) > _MAX_ARRAY_BYTES:  # numpy refuses such a shape even empty
        raise IdxFormatError(path, f"dimensions {'x'.join(map(str, shape))} are too large for an array", 4)
    return dtype, shape, header_size


#: What a path is when it is not a regular file, for the error message.
FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    """'a directory', 'a FIFO'... for a stat mode that is not a regular file's."""
    return next((name for test, name in FILE_KINDS if test(mode)), "not a regular file")


def open_regular(path: str) -> IO[bytes]:
    """*path* opened unbuffered for reading, if it is a regular file (a FIFO is never waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise IdxFormatError(path, f"can't open the file ({e.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise IdxFormatError(path, f"is {kind_of(mode)}, not a data file")
    return os.fdopen(fd, "rb", buffering=0)


def check_container(path: str) -> str:
    """The file's compression by suffix, after checking its first bytes agree (a mislabeled download)."""
    compression = compression_of(path)
    with open_regular(path) as raw:
        magic = raw.read(6)
    if compression and not magic.startswith(COMPRESSED_MAGIC[compression]):
        raise IdxFormatError(path, f"not a {compression} file (it starts with 0x{magic[:4].hex()})", 0)
    if not compression and any(magic.startswith(m) for m in COMPRESSED_MAGIC.values()):
        raise IdxFormatError(path, "file is compressed but its name has no .gz/.xz/.bz2 suffix", 0)
    return compression


def _read_header_from(path: str, stream: IO[bytes]) -> Tuple[np.dtype, Tuple[int, ...], int]:
    """Read and decode the header at the start of an open IDX *stream*: (dtype, shape, header size)."""
    try:
        head = stream.read(4)
        if len(head) == 4:
            head += stream.read(4 * head[3])
    except _DECOMPRESSION_ERRORS as e:
        raise _corrupt(path, e, 0) from e
    return parse_header(path, head)


def read_header(path: str) -> Tuple[np.dtype, Tuple[int, ...]]:
    """The dtype and shape an IDX file declares, reading only its header."""
    check_container(path)
    with open_binary(path) as stream:
        dtype, shape, _ = _read_header_from(path, stream)
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
            # chunks grow with what was read: a header claiming gigabytes costs ~64 KiB until data shows up
            chunk = stream.read(min(max(len(buffer), 1 << 16), _READ_CHUNK, size - len(buffer)))
        except _DECOMPRESSION_ERRORS as e:
            raise _corrupt(path, e, offset + len(buffer)) from e
        if not chunk:
            raise IdxFormatError(
                path, f"data truncated: header promises {size} bytes, file holds {len(buffer)}", offset + len(buffer)
            )
        buffer += chunk
    return buffer


def read_idx(path: str, *, flat_count: Optional[int] = None) -> np.ndarray:
    """Read an IDX file into an array of its declared shape and dtype (big-endian dtypes kept as views).

    A raw file is read whole (never memory-mapped: a mapped file truncated under us kills the process
    with SIGBUS; see idx_payload). A compressed file is inflated only up to the size its header implies:
    a payload shorter or longer than promised (or a decompression bomb) is an error.

    *flat_count* reads the data as a flat array of that many values of the declared type instead,
    whatever the dimensions say: images of mixed sizes, whose sizes live in a sidecar.
    """
    compression = check_container(path)

    with open_binary(path) as stream:
        dtype, shape, header_size = _read_header_from(path, stream)
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
            return np.fromfile(stream, dtype=dtype, count=size // dtype.itemsize).reshape(shape)

        data = _read_exactly(path, stream, size, header_size)
        try:
            # one byte more: reaching the end checks the stream's CRC/length (a bit flip, a cut-off
            # trailer) and any excess (a bomb) is found without inflating it
            extra = stream.read(1)
        except _DECOMPRESSION_ERRORS as e:
            raise _corrupt(path, e, header_size + size) from e
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
        if array.size:  # memoryview can't cast an empty N-d view
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
