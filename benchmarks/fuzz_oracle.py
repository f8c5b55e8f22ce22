"""What the fuzzer (``fuzz.py``) calls a crash, shared by its mutation kinds (``fuzz_kinds.py``).

A failure is fine when it is a ``datumaro.components.errors`` type whose message chain names the case's
folder or file; anything else (a bare ``ValueError``, a Datumaro error naming no file, a hang) is a crash.
"""

from __future__ import annotations

import contextlib
import os.path as osp
import signal
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional


#: How runs ended, for the summary: a fuzzer whose mutations are all refused at the first byte tests little.
OUTCOMES: Counter = Counter()


@dataclass
class Crash:
    signature: str
    description: str


@dataclass
class Context:
    """What a kind needs of ``fuzz.py``: the seeds, a scratch folder, and its folder writer and checker."""

    seeds: list
    workdir: str
    write_folder: Callable[[str, Dict], None]
    check_folder: Callable[..., Optional[Crash]]
    traced: bool = False
    #: per seed name: the allocation peak a mutation of it may reach (None: not traced)
    limits: Optional[Dict[str, int]] = None


class Hang(BaseException):
    """Raised by the alarm of :func:`time_bound`; a BaseException so no ``except Exception`` swallows it."""


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (main) thread if the block runs longer than *seconds*."""

    def ring(signum, frame):
        raise Hang(f"still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def chain(error: BaseException) -> List[BaseException]:
    errors = []
    while error is not None and len(errors) < 10:
        errors.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return errors


def names_the_folder(error: BaseException, folder: str) -> bool:
    """Does some message below Datumaro's generic "Failed to import dataset ... at <folder>" name a file?"""
    for e in chain(error):
        text = str(e)
        if text.startswith("Failed to import dataset "):
            continue
        if folder in text:
            return True
    return False


def signature(error: BaseException, kind: str) -> str:
    """Type of the root error and the innermost frame of this project or Datumaro that raised it."""
    error = chain(error)[-1]
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "datumaro" in f.filename]
    where = f"{osp.basename(ours[-1].filename)}:{ours[-1].lineno}" if ours else "?"
    return f"{kind}:{type(error).__name__}@{where}"


def describe(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def unclear(error: BaseException, folder: str, kind: str) -> Optional[Crash]:
    """None when *error* is a Datumaro error naming *folder*; else the Crash it is."""
    from datumaro.components.errors import DatumaroError

    if isinstance(error, DatumaroError) and names_the_folder(error, folder):
        OUTCOMES[f"{kind}: refused ({type(error).__name__})"] += 1
        return None
    label = f"{kind}-unclear" if isinstance(error, DatumaroError) else kind
    return Crash(signature(error, label), describe(error))
