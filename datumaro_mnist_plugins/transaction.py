"""Exports that replace a folder's files all at once or not at all, and never lose what was there.

An export writes into a staging folder beside its destination, then commits it with the destination's
lock held (``fcntl.flock`` on a file beside it: exports to one folder run one after the other):

1. a journal naming the staging folder, the new entries and the old ones they replace is fsync'd;
2. each old entry is kept in a backup folder inside the staging folder (a hard link, so a file stays in
   place until ``os.replace`` puts the new one there; a rename for a folder), each new entry is moved
   in, then the format's old entries that the new export does not have are moved to the backup;
3. the journal is removed, then the staging folder with its backup.

Any exception in step 2 rolls back. If the process dies, or the rollback fails, the journal stays and
the next export *or import* of the folder (``recover``) finishes the commit: forward when every new
entry had been moved in (none is left in the staging folder), back otherwise. The decision is read
from the folders themselves, so it stays right however often a recovery is interrupted.

Readers (``files.consistent_read``) hold a second lock file beside the folder shared while they open its
files; a commit holds it exclusively during its moves only, so an import opens all old files or all new.
A staging folder's owner holds an flock on a file inside it for its whole life: a folder whose lock
can be taken belongs to a dead export, and the next export to that destination removes it.
Pure standard library: no Datumaro, no numpy.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import os.path as osp
import re
import shutil
import stat
import uuid
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence, Tuple

STAGING_PREFIX = ".datumaro-mnist-export-"
_LOCK_PREFIX = ".datumaro-mnist-lock-"
_JOURNAL_PREFIX = ".datumaro-mnist-journal-"
_READERS_PREFIX = ".datumaro-mnist-readers-"
#: Staging-folder entries with this prefix are the mechanism's, never part of an export.
_RESERVED = ".datumaro-"
_OWNER_FILE = _RESERVED + "owner.lock"
_BACKUP_DIR = _RESERVED + "replaced"
_JOURNAL_DRAFT = _RESERVED + "journal.tmp"
_JOURNAL_VERSION = 1


class JournalError(OSError):
    """A commit journal that can't be trusted (damaged, or naming paths outside its destination)."""


@dataclass(frozen=True)
class Destination:
    """A dataset folder and the files beside it that the commit uses."""

    path: str
    parent: str
    base: str

    @classmethod
    def of(cls, folder: str) -> "Destination":
        # realpath: the staging folder must sit on the destination's file system, even through a symlink
        path = osp.realpath(folder)
        return cls(path, osp.dirname(path), osp.basename(path))

    @property
    def lock(self) -> str:
        return osp.join(self.parent, _LOCK_PREFIX + self.base)

    @property
    def readers(self) -> str:  # held shared by readers opening the folder's files, exclusively by a commit's moves
        return osp.join(self.parent, _READERS_PREFIX + self.base)

    @property
    def journal(self) -> str:
        return osp.join(self.parent, _JOURNAL_PREFIX + self.base)

    def is_staging_name(self, name: str) -> bool:
        # exactly <prefix><base>-<uuid>: the staging folder of an export to "<base>-2" is not ours
        return re.fullmatch(re.escape(STAGING_PREFIX + self.base) + r"-[0-9a-f]{32}", name) is not None


@dataclass(frozen=True)
class Plan:
    """What one commit moves: the journal's content."""

    dest: Destination
    staging: str  # the staging folder's name, in dest.parent
    new: Tuple[str, ...]
    old: Tuple[str, ...]

    @property
    def staging_path(self) -> str:
        return osp.join(self.dest.parent, self.staging)

    @property
    def backup_path(self) -> str:
        return osp.join(self.staging_path, _BACKUP_DIR)

    def all_new_in_place(self) -> bool:
        """Has every new entry left the staging folder? (os.replace moved each in, atomically)"""
        return not any(osp.lexists(osp.join(self.staging_path, name)) for name in self.new)


# --- the public entry points -----------------------------------------------------------------------------


@contextmanager
def staged_export(save_dir: str, owns: Callable[[str], bool]) -> Iterator[str]:
    """Yield an empty staging folder beside *save_dir*; when the body succeeds, commit it.

    The commit replaces the top-level entries of *save_dir* that the export wrote, removes those that
    *owns* recognizes as the format's but that the export no longer has (a subset that is gone), and
    keeps every other entry (a user's notes, other folders). Exports to one folder are serialized.
    """
    dest = Destination.of(save_dir)
    os.makedirs(dest.parent, exist_ok=True)
    with flocked(dest.lock):  # beside it: the destination may not exist yet
        _recover_locked(dest)
        _remove_dead_staging(dest)
        staging, owner = _new_staging(dest)
        try:
            yield staging
            _commit(dest, staging, owns)
        finally:
            try:
                if not _journal_names(dest, staging):
                    _remove_tree(staging)
            finally:
                os.close(owner)


def recover(folder: str) -> Optional[str]:
    """Finish an export to *folder* that was interrupted mid-commit: "forward", "back", or None.

    Costs a path resolution and one stat when there is nothing to recover (every import calls it).
    """
    dest = Destination.of(folder)
    if not osp.lexists(dest.journal):
        return None
    with flocked(dest.lock):  # beside it: the destination may not exist yet
        return _recover_locked(dest)


# --- the commit ----------------------------------------------------------------------------------------


def _commit(dest: Destination, staging: str, owns: Callable[[str], bool]) -> None:
    new = sorted(name for name in os.listdir(staging) if not name.startswith(_RESERVED))
    os.makedirs(dest.path, exist_ok=True)
    wanted = set(new)
    old = sorted(name for name in os.listdir(dest.path) if name in wanted or owns(name))
    plan = Plan(dest, osp.basename(staging), tuple(new), tuple(old))
    _fsync_files(staging, new)  # the data is on disk before a journal can make it the export
    os.mkdir(plan.backup_path)
    with flocked(dest.readers):  # readers wait for the moves only: they open all old files or all new ones
        try:
            _write_journal(plan)
            for name in old:
                if name in wanted:
                    _back_up(plan, name)
            for name in new:
                os.replace(osp.join(staging, name), osp.join(dest.path, name))
            _remove_old_only(plan)
            _fsync_dir(dest.path)
        except BaseException:
            try:
                _roll_back(plan)
            except OSError:
                pass  # the journal stays: the next import or export of the folder finishes the rollback
            raise
        try:
            _drop_journal(dest)
        except OSError:
            pass  # committed: the next import or export finds every new entry in place and rolls forward


def _back_up(plan: Plan, name: str) -> None:
    """Keep an old entry in the backup folder; a file stays in place (a hard link) until replaced."""
    current, kept = osp.join(plan.dest.path, name), osp.join(plan.backup_path, name)
    if _is_file(current) and _is_file(osp.join(plan.staging_path, name)):
        try:
            os.link(current, kept)
            return
        except OSError:
            pass  # a file system without hard links: move it aside instead
    os.rename(current, kept)


def _remove_old_only(plan: Plan) -> None:
    """Move to the backup the old entries of the format that the new export does not have."""
    wanted = set(plan.new)
    for name in plan.old:
        current, kept = osp.join(plan.dest.path, name), osp.join(plan.backup_path, name)
        if name not in wanted and osp.lexists(current) and not osp.lexists(kept):
            os.rename(current, kept)


def _roll_back(plan: Plan) -> None:
    """Put the old entries back. Moves each new entry back to staging first, so that a recovery after
    an interrupted rollback sees "not every new entry in place" and rolls back too."""
    for name in reversed(plan.new):
        staged, current = osp.join(plan.staging_path, name), osp.join(plan.dest.path, name)
        if not osp.lexists(staged) and osp.lexists(current):
            os.rename(current, staged)
    for name in plan.old:
        kept = osp.join(plan.backup_path, name)
        if osp.lexists(kept):
            os.replace(kept, osp.join(plan.dest.path, name))
    _fsync_dir(plan.dest.path)
    _drop_journal(plan.dest)


def _recover_locked(dest: Destination) -> Optional[str]:
    if not osp.lexists(dest.journal):
        return None
    with flocked(dest.readers):
        plan = _read_journal(dest)
        if plan.all_new_in_place():
            _remove_old_only(plan)
            _fsync_dir(dest.path)
            _drop_journal(dest)
            outcome = "forward"
        else:
            _roll_back(plan)
            outcome = "back"
    _remove_tree(plan.staging_path)  # only now: a missing staging folder would read as "all in place"
    return outcome


# --- the journal ---------------------------------------------------------------------------------------


def _write_journal(plan: Plan) -> None:
    data = {"version": _JOURNAL_VERSION, "staging": plan.staging, "new": list(plan.new), "old": list(plan.old)}
    draft = osp.join(plan.staging_path, _JOURNAL_DRAFT)
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(json.dumps(data).encode("utf-8"))
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(draft, plan.dest.journal)  # a journal is complete or absent
    _fsync_dir(plan.dest.parent)


def _read_journal(dest: Destination) -> Plan:
    try:
        with open(dest.journal, "rb") as f:
            data = json.loads(f.read(1 << 24).decode("utf-8"))
        plan = Plan(dest, data["staging"], tuple(data["new"]), tuple(data["old"]))
    except (ValueError, KeyError, TypeError) as e:
        raise JournalError(errno.EINVAL, f"damaged export journal ({type(e).__name__}: {e})", dest.journal) from None
    names_ok = all(_plain_name(name) for name in plan.new + plan.old)
    if data.get("version") != _JOURNAL_VERSION or not dest.is_staging_name(plan.staging) or not names_ok:
        raise JournalError(errno.EINVAL, "export journal names paths outside its dataset folder", dest.journal)
    return plan


def _journal_names(dest: Destination, staging: str) -> bool:
    """Does the destination's journal (if any) still need *staging*? Unreadable: assume it does."""
    if not osp.lexists(dest.journal):
        return False
    try:
        return _read_journal(dest).staging == osp.basename(staging)
    except OSError:
        return True


def _drop_journal(dest: Destination) -> None:
    os.unlink(dest.journal)
    _fsync_dir(dest.parent)


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and not any(c in name for c in "/\0") \
        and not name.startswith(_RESERVED)


# --- locks and staging folders ---------------------------------------------------------------------------


@contextmanager
def flocked(path: str, shared: bool = False, wait: bool = True) -> Iterator[None]:
    """Hold an flock on the file *path* (made if need be), removed by the last holder to let go of it.
    Without *wait*, BlockingIOError if another holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
            held = os.fstat(fd)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        # the holder before us unlinks the file before unlocking it: a lock on an unlinked file is no lock
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        with suppress(OSError):
            if shared:  # the last reader out removes the file; while others read, it stays
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)  # no lock file left behind; waiters see it is gone and retry
        os.close(fd)


def _new_staging(dest: Destination) -> Tuple[str, int]:
    """A new staging folder, and the descriptor of its owner file, locked for the folder's life."""
    path = osp.join(dest.parent, f"{STAGING_PREFIX}{dest.base}-{uuid.uuid4().hex}")
    os.mkdir(path)
    fd = -1
    try:
        fd = os.open(osp.join(path, _OWNER_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
    except BaseException:
        if fd >= 0:
            os.close(fd)
        _remove_tree(path)
        raise
    return path, fd


def _remove_dead_staging(dest: Destination) -> None:
    """Remove the staging folders of this destination whose owner is gone (called with its lock held)."""
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return
    for name in names:
        path = osp.join(dest.parent, name)
        if dest.is_staging_name(name) and _owner_is_gone(path):
            _remove_tree(path)


def _owner_is_gone(staging: str) -> bool:
    try:
        fd = os.open(osp.join(staging, _OWNER_FILE), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        # killed between mkdir and the owner file's creation (or older): its owner no longer holds our lock
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False  # locked: a live export
    finally:
        os.close(fd)


# --- small file-system helpers -----------------------------------------------------------------------------


def _is_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _fsync_files(folder: str, names: Sequence[str]) -> None:
    for name in names:
        path = osp.join(folder, name)
        if _is_file(path):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):  # file systems that can't sync a folder
            raise
    finally:
        os.close(fd)


def _remove_tree(path: str) -> None:
    """Best effort: what can't be removed now is a dead staging folder the next export removes."""
    with suppress(OSError):
        shutil.rmtree(path, ignore_errors=True)
