"""The first line the ``datum`` CLI prints for an error of ours says what is wrong and where.

Datumaro's CLI reports a failure as ``log.error(e)`` on the root logger, then re-raises for the
traceback. But ``Dataset.import_from`` wraps whatever an extractor raises in a
``DatasetImportError("Failed to import dataset 'mnist' at '<path>'.")``, and an error met while a lazy
dataset is exported arrives as Datumaro's bare ``_ImportFail`` (an empty message), so the line a user
reads first named no file and no reason: ours came last, at the bottom of a chained traceback.

No exception type escapes that wrapping, and item errors must go through Datumaro's import error policy,
so the exceptions stay as they are (``except DatasetImportError`` keeps working, ``str(e)`` is unchanged).
Instead a filter on the root logger completes such a record: when the logged exception's chain passes
through this package, the message of the cause this package raised (the file, the line, what is wrong)
is added to the line, e.g.::

    ERROR: Failed to import dataset 'mnist_synthetic' at 'bad.yaml': bad.yaml: 'style.slant': (50, 10) is not allowed ...
"""

from __future__ import annotations

import logging
import os.path as osp
from typing import List

_PACKAGE_DIR = osp.dirname(osp.abspath(__file__)) + osp.sep


def cause_chain(error: BaseException) -> List[BaseException]:
    """*error* and its explicit causes (``raise ... from``), outermost first."""
    chain = [error]
    while chain[-1].__cause__ is not None and chain[-1].__cause__ not in chain:
        chain.append(chain[-1].__cause__)
    return chain


def _frames(error: BaseException) -> List[str]:
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append(osp.abspath(tb.tb_frame.f_code.co_filename))
        tb = tb.tb_next
    return frames


def _ours(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR)


def first_line(error: BaseException) -> str:
    """The line to print first for *error*: its own message, completed by the cause that says what is wrong.

    That cause is the outermost one raised by this package (which names the file and the reason, even when
    it chains a library's error such as an EOFError), or else the innermost one.
    """
    from datumaro.components.errors import DatumaroError  # not at import: registration imports this module

    chain = cause_chain(error)
    outer = str(error).strip()
    if len(chain) == 1 or not any(_ours(f) for e in chain for f in _frames(e)):
        return outer
    inner = next((e for e in chain[1:] if _frames(e) and _ours(_frames(e)[-1])), chain[-1])
    detail = str(inner) if isinstance(inner, DatumaroError) else f"{type(inner).__name__}: {inner}"
    if detail in outer:
        return outer
    return f"{outer.rstrip('.')}: {detail}" if outer else detail


class FirstLineFilter(logging.Filter):
    """Completes records that log an exception object (``log.error(e)``) raised through this package."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, BaseException) and not record.args:
            try:
                record.msg = first_line(record.msg)
            except Exception:  # never let reporting an error raise another one
                pass
        return True


def install() -> None:
    """Add the filter to the root logger (the one the ``datum`` CLI logs errors with), once."""
    root = logging.getLogger()
    if not any(isinstance(f, FirstLineFilter) for f in root.filters):
        root.addFilter(FirstLineFilter())
