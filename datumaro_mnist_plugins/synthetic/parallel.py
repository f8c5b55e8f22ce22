"""Draw generated digits on every core, in ordered blocks, byte-identical whatever the worker count.

Why it is built this way:

* An item's pixels are a function of ``(seed, subset, index, digit, style)`` alone (:func:`render_items`),
  so who draws an item cannot change it: one worker or eight give the same bytes.
* Sequential reads (an export, a training loop) are served from *blocks* of consecutive kept items
  that a pool of worker processes draws ahead of the reader; an isolated read (``get()``, one image)
  is drawn in-process, alone, so random access never pays for a block or for starting the pool.
* Workers are forked (a forked worker starts in milliseconds; a spawned one imports numpy and Pillow
  again, ~0.5 s each). A worker runs only the renderer (numpy and Pillow) and a pipe to its parent,
  none of the parent's threads' state, so forking while other threads run (the gzip writer's) is safe.
  Workers ignore Ctrl-C (the parent handles it and stops them) and exit when their pipe closes, so
  they end with the parent however it ends; results are read back in block order.
* Memory is bounded: a few blocks are in flight or cached (``_WINDOW_PER_WORKER`` per worker).

This module imports numpy and the renderer only (no Datumaro): the renderer is called as a function
``scan_digits(digits, item streams, style)``, finished a block at a time by ``raster.finish``.
"""

from __future__ import annotations

import collections
import ctypes
import multiprocessing
import os
import signal
import weakref
from multiprocessing.connection import Connection, wait
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import raster, strokes
from .streams import item_streams

#: The environment variable that sets the default number of drawing processes (1 = draw in-process).
WORKERS_ENV = "MNIST_SYNTHETIC_WORKERS"
#: A block holds about this many bytes of pixels (125 digits of 28x28): small enough to sit in a pipe
#: (a socket pair holds 208 KB on Linux), large enough that its pen paths are computed many at a time.
_BLOCK_BYTES = 96 * 1024
#: Blocks kept in flight ahead of a sequential reader, per worker.
_WINDOW_PER_WORKER = 4

Key = Tuple[str, int]  # (subset, block number)


class RenderError(Exception):
    """Drawing an item failed; the message names the item (subset and index) and the cause."""


def default_workers() -> int:
    """The number of drawing processes: ``$MNIST_SYNTHETIC_WORKERS``, else the CPUs this process may use."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        return check_workers(text, WORKERS_ENV)
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        return max(1, counter() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_workers(value: object, what: str = "workers") -> int:
    """A worker count from an option or the environment: a whole number 1..256, else ValueError."""
    try:
        count = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        count = None
    if count is None or not 1 <= count <= 256 or (isinstance(value, float) and value != count):
        raise ValueError(f"{what} must be a whole number of processes 1..256 (1 = draw in-process), not {value!r}")
    return count


def render_items(seed: int, style, subset: str, indices: Sequence[int], digits: Sequence[int]) -> np.ndarray:
    """Items *indices* of *subset* (their classes are *digits*): N x H x W uint8. Each item's numbers are
    the ones it gets alone (:func:`.strokes.scan_digits`), and the block is finished at once
    (:func:`.raster.finish`, elementwise: the same bytes)."""
    try:
        scans = strokes.scan_digits([int(d) for d in digits], item_streams(seed, subset, indices), style)
    except Exception:  # draw them one by one again, to name the item that fails
        scans = _scan_one_by_one(seed, style, subset, indices, digits)
    try:
        return raster.finish(scans, style.image_size)
    except Exception as e:
        raise RenderError(f"can't draw items {indices[0]}..{indices[-1]} of subset '{subset}': "
                          f"{type(e).__name__}: {e}") from e


def _scan_one_by_one(seed: int, style, subset: str, indices: Sequence[int], digits: Sequence[int]) -> list:
    scans = []
    streams = item_streams(seed, subset, indices)
    for index, digit in zip(indices, digits):
        try:
            scans.append(strokes.scan_digit(int(digit), next(streams), style))
        except Exception as e:
            raise RenderError(f"can't draw item '{index}' of subset '{subset}' (digit {digit}): "
                              f"{type(e).__name__}: {e}") from e
    raise RenderError(f"can't draw items {indices[0]}..{indices[-1]} of subset '{subset}' together, "
                      f"though each one alone draws")  # a fault of the block itself


#: glibc's mallopt parameters, and what a worker sets them to: blocks of up to 32 MB from the heap, and
#: up to 64 MB freed kept there rather than handed back to the kernel.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_WORKER_MALLOC = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 64 << 20))


def _find_mallopt() -> Optional[Callable[[int, int], int]]:
    """glibc's ``mallopt``, looked up here in the parent: a forked child must not run the dynamic loader
    (another thread of the parent may have held its lock when it forked)."""
    try:
        return ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # not glibc, or no C library to look in
        return None


_MALLOPT = _find_mallopt()


def keep_freed_memory() -> None:
    """Make this process's malloc keep the memory it frees (glibc; elsewhere nothing to do).

    A drawing worker allocates and frees the same few megabytes of numpy temporaries for every block;
    by default glibc hands large ones back to the kernel and faults them in again, ~8 page faults a
    digit, a tenth of its time spent in the kernel. Only for processes that run the renderer alone
    (our workers): a user's process keeps its allocator as it is.
    """
    if _MALLOPT is not None:
        for parameter, value in _WORKER_MALLOC:
            _MALLOPT(parameter, value)


def _serve(conn: Connection, parent_end: Optional[Connection], seed: int, style) -> None:
    """A worker: draw the blocks asked for on *conn*, in order, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    keep_freed_memory()
    if parent_end is not None:
        parent_end.close()  # so that the parent's end closing (its exit, even by SIGKILL) is our EOF
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        key, subset, indices, digits = task
        try:
            reply = (key, render_items(seed, style, subset, indices, digits), None)
        except Exception as e:  # RenderError, or anything the pipe can't carry
            reply = (key, None, str(e))
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


class RenderPool:
    """*workers* forked drawing processes; blocks go to the least busy one and come back by key."""

    def __init__(self, workers: int, seed: int, style):
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self._conns: List[Connection] = []
        self._queues: List[collections.deque] = []
        self._processes: List[multiprocessing.process.BaseProcess] = []
        self._items: Dict[Key, str] = {}  # what each pending block holds, for errors
        self.owner = os.getpid()  # a forked child (a DataLoader worker) must neither use nor stop our workers
        self._finalizer = weakref.finalize(self, _stop, self.owner, self._processes, self._conns)
        for number in range(workers):
            parent_end, child_end = context.Pipe()
            inherited = parent_end if context.get_start_method() == "fork" else None
            process = context.Process(
                target=_serve, args=(child_end, inherited, seed, style), name=f"mnist_synthetic-draw-{number}", daemon=True
            )
            process.start()
            child_end.close()
            self._conns.append(parent_end)
            self._queues.append(collections.deque())
            self._processes.append(process)

    @property
    def pending(self) -> int:
        return sum(map(len, self._queues))

    def submit(self, key: Key, subset: str, indices: Sequence[int], digits: Sequence[int]) -> None:
        worker = min(range(len(self._queues)), key=lambda w: len(self._queues[w]))
        self._items[key] = f"items {indices[0]}..{indices[-1]}" if len(indices) > 1 else f"item '{indices[0]}'"
        try:
            self._conns[worker].send((key, subset, np.asarray(indices, np.int64), np.asarray(digits, np.int64)))
        except OSError:  # BrokenPipeError: the worker is gone
            raise self._died(worker, key) from None
        self._queues[worker].append(key)

    def is_pending(self, key: Key) -> bool:
        return any(key in q for q in self._queues)

    def collect(self, block: bool) -> Dict[Key, Union[np.ndarray, RenderError]]:
        """The blocks drawn so far (waiting for at least one if *block*); a failed draw is its RenderError.

        A worker that dies is a RenderError raised here, and stops the pool.
        """
        busy = [c for c, q in zip(self._conns, self._queues) if q]
        done: Dict[Key, Union[np.ndarray, RenderError]] = {}
        for conn in wait(busy, None if block else 0) if busy else ():
            worker = self._conns.index(conn)
            expected = self._queues[worker].popleft()
            try:
                key, pixels, error = conn.recv()
            except (EOFError, OSError):
                raise self._died(worker, expected) from None
            self._items.pop(expected, None)
            done[key] = pixels if error is None else RenderError(error)
        return done

    def close(self) -> None:
        self._finalizer()

    def _died(self, worker: int, key: Key) -> RenderError:
        """The error for a worker gone (killed, out of memory); the pool stops."""
        self._processes[worker].join(timeout=1.0)
        code = self._processes[worker].exitcode
        self.close()
        return RenderError(
            f"the process drawing {self._items.get(key, 'items')} of subset '{key[0]}' died (exit code {code}); "
            f"set {WORKERS_ENV}=1 to draw in-process"
        )


def _stop(owner: int, processes: list, conns: List[Connection]) -> None:
    """Stop the workers: close their pipes (they exit at EOF), then terminate any that linger."""
    if os.getpid() != owner:
        return
    for conn in conns:
        try:
            conn.send(None)
        except OSError:
            pass
        conn.close()
    for process in processes:
        process.join(timeout=1.0)
        if process.exitcode is None:
            process.terminate()
            process.join(timeout=1.0)


class BlockRenderer:
    """Pixels of kept items by (subset, index): pool-drawn blocks for sequential reads, in-process otherwise.

    *kept(subset)* is the items a subset keeps (a range or an :class:`.IndexRuns`) and
    *digits_of(subset, indices)* their digits; blocks are runs of consecutive kept items, so a filtered subset draws only what it keeps.
    """

    def __init__(self, seed: int, style, kept: Callable[[str], Sequence[int]],
                 digits_of: Callable[[str, Sequence[int]], Sequence[int]], workers: Optional[int] = None):
        self._seed, self._style = seed, style
        self._kept, self._digits_of = kept, digits_of
        self.workers = default_workers() if workers is None else check_workers(workers)
        self.block_size = max(1, _BLOCK_BYTES // (style.image_size**2))
        self._window = _WINDOW_PER_WORKER * self.workers
        self._cache: "collections.OrderedDict[Key, Union[np.ndarray, RenderError]]" = collections.OrderedDict()
        self._last: Optional[Tuple[str, int]] = None
        self._pool: Optional[RenderPool] = None
        self._pool_failed = False

    def image(self, subset: str, index: int) -> np.ndarray:
        position = self._position(subset, index)
        sequential = self._last == (subset, position - 1)
        self._last = (subset, position)
        if position < 0:  # not a kept item (a caller asking for any index of the recipe): draw it alone
            return self._draw_alone(subset, index)
        key = (subset, position // self.block_size)
        if key not in self._cache and (sequential or (self._pool is not None and self._pool.is_pending(key))):
            pool = self._get_pool()
            if pool is not None:
                try:
                    self._read_ahead(pool, subset, key[1])
                    while key not in self._cache:
                        self._store(pool.collect(block=True))
                except BaseException:  # a dead worker, Ctrl-C: stop the workers, draw in-process from now on
                    self._pool, self._pool_failed = None, True
                    pool.close()
                    raise
            elif sequential:  # one process: draw the block here all the same, finished at once
                self._store({key: self._draw_block(subset, key[1])})
        block = self._cache.get(key)
        if block is None:
            return self._draw_alone(subset, index)
        self._cache.move_to_end(key)
        if isinstance(block, RenderError):  # raised when the reader reaches it, not when read ahead
            raise block
        return block[position % self.block_size].copy()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _draw_block(self, subset: str, number: int) -> Union[np.ndarray, RenderError]:
        indices = self._kept(subset)[number * self.block_size : (number + 1) * self.block_size]
        try:
            return render_items(self._seed, self._style, subset, indices, self._digits_of(subset, indices))
        except RenderError as e:  # raised when the reader reaches the block, as a worker's would be
            return e

    def _draw_alone(self, subset: str, index: int) -> np.ndarray:
        return render_items(self._seed, self._style, subset, [index], self._digits_of(subset, [index]))[0]

    def _position(self, subset: str, index: int) -> int:
        """Where *index* is among the kept items of *subset* (-1 if it is not kept)."""
        kept = self._kept(subset)
        if isinstance(kept, range):
            return (index - kept.start) // kept.step if index in kept else -1
        return kept.position(index)  # an IndexRuns: a binary search, nothing expanded

    def _get_pool(self) -> Optional[RenderPool]:
        if self._pool is not None and self._pool.owner != os.getpid():
            self._pool = None  # forked with its parent's pool: that pool is the parent's to use
        # a daemonic process (e.g. a DataLoader worker) may not have children: it draws in-process
        if self._pool is None and not self._pool_failed and self.workers > 1:
            if multiprocessing.current_process().daemon:
                self._pool_failed = True
            else:
                self._pool = RenderPool(self.workers, self._seed, self._style)
        return self._pool

    def _read_ahead(self, pool: RenderPool, subset: str, first: int) -> None:
        kept = self._kept(subset)
        size = self.block_size
        for number in range(first, min(first + self._window, (len(kept) + size - 1) // size)):
            key = (subset, number)
            if key in self._cache or pool.is_pending(key):
                continue
            if pool.pending >= self._window and number != first:
                break
            indices = kept[number * size : (number + 1) * size]
            pool.submit(key, subset, indices, self._digits_of(subset, indices))
        self._store(pool.collect(block=False))

    def _store(self, blocks: Dict[Key, Union[np.ndarray, RenderError]]) -> None:
        for key, pixels in blocks.items():
            self._cache[key] = pixels
        while len(self._cache) > self._window + 2:
            self._cache.popitem(last=False)
