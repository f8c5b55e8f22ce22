"""Datumaro's cleanup after a failed export, made safe: the folder it made goes only while it is empty.

Datumaro 1.13's ``Dataset.export`` (and so ``datum convert``) and ``HLOps.export``, given a folder that
does not exist, make it and register ``shutil.rmtree`` of it in their Scope, to run if the export fails.
That runs after our exporter has let go of the destination's lock, so it would also delete an export
that another process committed into the folder meanwhile. We don't patch Datumaro. Our exporters enter,
in that same Scope, a context manager that a failure reaches first (a Scope unwinds last in, first out):
it removes the folder itself, with the destination's lock held and only if the folder is empty
(``os.rmdir``), and marks the failure handled, so the Scope's error callback (that rmtree) is skipped.
The Scope still re-raises the error (``Scope.__exit__`` drops what its ExitStack returns); a self-check
makes sure of that before relying on it, and the Scope is only read otherwise.
"""

from __future__ import annotations

import os
import os.path as osp
import shutil
from contextlib import suppress
from functools import lru_cache, partial
from typing import Optional

from datumaro.util.scope import Scope

from .transaction import Destination, flocked


def guard_made_folder(save_dir: str) -> None:
    """Take over Datumaro's pending removal of *save_dir* on failure, if there is one (see above).

    Our exporters' ``convert`` calls it first, so that every failure of theirs goes through it.
    """
    scope = _current_scope()
    if scope is not None and _removal_pending(scope, save_dir) and _scope_reraises_handled_errors():
        scope.add(_RemoveIfEmptyOnFailure(save_dir))


def remove_if_empty(folder: str) -> None:
    """Remove *folder* if it is empty and no export to it is running or half-committed; else keep it."""
    dest = Destination.of(folder)
    with suppress(OSError):  # not empty, or the lock is another export's: the folder is theirs
        with flocked(dest.lock, wait=False):
            if not osp.lexists(dest.journal):  # a commit to finish: the next import or export does it
                os.rmdir(folder)


class _RemoveIfEmptyOnFailure:
    def __init__(self, save_dir: str) -> None:
        self._save_dir = save_dir

    def __enter__(self) -> "_RemoveIfEmptyOnFailure":
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is None:
            return False
        with suppress(BaseException):  # a second Ctrl-C while removing: the folder stays, nothing is lost
            remove_if_empty(self._save_dir)
        return True  # handled: the Scope skips Datumaro's rmtree, then re-raises the error


def _current_scope() -> Optional[Scope]:
    try:
        return Scope.current()
    except AttributeError:  # no Scope in this thread: Exporter.convert called directly
        return None


def _removal_pending(scope: Scope, save_dir: str) -> bool:
    """Is Datumaro's rmtree of *save_dir* the one callback in *scope*, as ``Dataset.export`` registers it
    before calling the exporter? Only then does marking a failure handled skip nothing else."""
    callbacks = list(getattr(getattr(scope, "_stack", None), "_exit_callbacks", ()))
    if len(callbacks) != 1:
        return False
    handler = getattr(callbacks[0][1], "__self__", None)  # ExitStack keeps (is_sync, bound __exit__)
    call = getattr(handler, "callback", None)
    return isinstance(handler, Scope._ErrorHandler) and isinstance(call, partial) \
        and call.func is shutil.rmtree and call.args == (save_dir,)


@lru_cache(maxsize=None)
def _scope_reraises_handled_errors() -> bool:
    """Does a Scope re-raise an error that one of its context managers marked handled? (1.13's does.)"""
    probe = Scope()
    probe.add(suppress(RuntimeError))
    return not probe.__exit__(RuntimeError, RuntimeError("probe"), None)
