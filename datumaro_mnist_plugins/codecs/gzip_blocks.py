"""Parallel, reproducible gzip: what ``.gz`` exports are written with (pure; no Datumaro)."""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Deque, Optional


class BlockGzipWriter:
    """A gzip file written in blocks deflated on every core, as pigz does; read back by any gzip reader.

    Deflate is most of an export's time and one core's worth of it; independent blocks use them all.
    Each block of :data:`GZIP_BLOCK` bytes is deflated on its own, primed with the 32 KiB of data
    before it (so the ratio is that of one stream, within 0.1%), and ends on a byte boundary (a sync
    flush), so the blocks simply follow each other; the last one closes the stream. The bytes written
    depend only on the data and the level, not on the number of cores or threads: exports stay
    reproducible byte for byte. A file smaller than one block is exactly what ``gzip.GzipFile`` writes
    with ``mtime=0``.
    """

    def __init__(self, path: str, compress_level: int = 6):
        self._level = compress_level
        self._file = open(path, "wb")
        self._pending = bytearray()
        self._window = b""  # the last 32 KiB before the pending data: the next block's dictionary
        self._crc = 0
        self._size = 0
        self._workers = os.cpu_count() or 1
        self._pool: Optional[ThreadPoolExecutor] = None
        self._queue: Deque[Future] = deque()
        self._closed = False
        try:
            self._file.write(self._gzip_header(path, compress_level))
        except BaseException:
            self._file.close()
            raise

    @staticmethod
    def _gzip_header(path: str, level: int) -> bytes:
        """The header ``gzip.GzipFile`` writes with mtime=0: magic, deflate, the file name, no time."""
        name = os.path.basename(path)
        try:
            fname = name.encode("latin-1")
        except UnicodeEncodeError:
            fname = b""
        if fname.endswith(b".gz"):
            fname = fname[:-3]
        xfl = 2 if level == 9 else 4 if level == 1 else 0
        header = b"\x1f\x8b\x08" + bytes((0x08 if fname else 0,)) + b"\x00\x00\x00\x00" + bytes((xfl, 255))
        return header + (fname + b"\x00" if fname else b"")

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._crc = zlib.crc32(view, self._crc)
        self._size += len(view)
        start = 0
        if self._pending:
            start = min(len(view), GZIP_BLOCK - len(self._pending))
            self._pending += view[:start]
            if len(self._pending) < GZIP_BLOCK:
                return len(view)
            self._submit(bytes(self._pending), final=False)
            self._pending = bytearray()
        while len(view) - start >= GZIP_BLOCK:
            self._submit(bytes(view[start : start + GZIP_BLOCK]), final=False)
            start += GZIP_BLOCK
        self._pending += view[start:]
        return len(view)

    def _submit(self, block: bytes, final: bool) -> None:
        if self._pool is None and not final:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="idx-gzip")
        window = self._window
        self._window = block[-_WINDOW:] if len(block) >= _WINDOW else (window + block)[-_WINDOW:]
        if self._pool is None:  # the whole file is one block: deflate it here
            self._file.write(_deflate_block(block, window, self._level, final))
            return
        self._queue.append(self._pool.submit(_deflate_block, block, window, self._level, final))
        # a few blocks in flight per core; finished ones are written in order
        while self._queue and (final or self._queue[0].done() or len(self._queue) > 2 * self._workers):
            self._file.write(self._queue.popleft().result())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._submit(bytes(self._pending), final=True)
            self._file.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        for future in self._queue:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._file.close()

    def __enter__(self) -> "BlockGzipWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # a failed write leaves a partial file for the caller to discard, and no threads
            self._closed = True
            self._shutdown()


#: The block size of :class:`BlockGzipWriter`: big enough that per-block costs vanish, small enough to
#: keep every core busy on a 10 MB file.
GZIP_BLOCK = 1 << 20
_WINDOW = 1 << 15  # deflate's window: what a block may refer back to


def _deflate_block(block: bytes, window: bytes, level: int, final: bool) -> bytes:
    """Raw deflate of *block*, primed with *window*, ending the stream if *final*, else on a byte boundary."""
    compressor = (
        zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0, window)
        if window
        else zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)
    )
    return compressor.compress(block) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)
