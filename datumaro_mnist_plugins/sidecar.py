"""The sidecar: the item ids and image sizes that MNIST's data files cannot hold, and its two files.

``<subset>-meta.gz`` beside IDX files (gzipped fixed-width UTF-32 cells) and ``meta_<subset>.csv``
beside CSV files hold the same rows, in Datumaro's built-in layouts: ``[id]``, ``[h, w]`` or ``[id, h, w]``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from datumaro.components.errors import DatasetImportError

from .codecs.idx import IdxFormatError, open_regular
from .items import MAX_ID_CHARS, check_item_id

#: The IDX sidecar of a subset is named after it: ``train-meta.gz``.
IDX_SIDECAR_SUFFIX = "-meta.gz"


@dataclass
class Sidecar:
    """Per-item ids and image sizes, in the layout of Datumaro's built-in MNIST sidecars.

    Rows are ``[id]``, ``[h, w]`` or ``[id, h, w]``; a size of 0×0 means "no image".
    """

    ids: Optional[List[str]] = None
    sizes: Optional[List[Tuple[int, int]]] = None

    def __bool__(self) -> bool:
        return self.ids is not None or self.sizes is not None

    def rows(self) -> List[List[str]]:
        count = len(self.ids if self.ids is not None else self.sizes)
        columns = []
        if self.ids is not None:
            columns.append(self.ids)
        if self.sizes is not None:
            columns.append([str(h) for h, _ in self.sizes])
            columns.append([str(w) for _, w in self.sizes])
        return [[column[i] for column in columns] for i in range(count)]

    @classmethod
    def from_rows(cls, path: str, rows: Sequence[Sequence[str]]) -> "Sidecar":
        widths = {len(row) for row in rows}
        if len(widths) > 1 or (widths and widths.pop() not in (1, 2, 3)):
            raise DatasetImportError(f"{path}: sidecar rows must all be [id], [h, w] or [id, h, w]")
        if not rows:
            return cls()
        width = len(rows[0])
        ids = [str(row[0]) for row in rows] if width in (1, 3) else None
        sizes = None
        if width >= 2:
            try:
                sizes = [(int(row[-2]), int(row[-1])) for row in rows]
            except ValueError as e:
                raise DatasetImportError(f"{path}: sidecar image size is not a number ({e})") from None
            for line, (h, w) in enumerate(sizes, 1):
                if not (0 <= h < 2**32 and 0 <= w < 2**32) or (h == 0) != (w == 0):
                    raise DatasetImportError(f"{path}: row {line}: bad image size {h}x{w}")
        if ids is not None:
            for line, item_id in enumerate(ids, 1):
                check_item_id(path, item_id, f"row {line}")
            duplicates = len(ids) - len(set(ids))
            if duplicates:
                raise DatasetImportError(f"{path}: {duplicates} item ids appear more than once")
        return cls(ids=ids, sizes=sizes)


class SidecarCollector:
    """Gathers ids and sizes during an export; keeps only what the data files cannot say themselves."""

    def __init__(self) -> None:
        self.ids: List[str] = []
        self.sizes: List[Tuple[int, int]] = []

    def add(self, item_id: str, size: Tuple[int, int]) -> None:
        self.ids.append(item_id)
        self.sizes.append(size)

    @property
    def uniform_size(self) -> Optional[Tuple[int, int]]:
        """The one image size of the subset, if all its items have an image of the same size."""
        sizes = set(self.sizes)
        if len(sizes) == 1 and (0, 0) not in sizes:
            return sizes.pop()
        return None

    def repeated_id(self) -> Optional[str]:
        """The first id seen twice: two items one row, which no import could tell apart (Datumaro
        itself lets them through when subsets ``''`` and ``'default'`` merge)."""
        if not self._ids_are_positions():
            seen = set()
            for item_id in self.ids:
                if item_id in seen:
                    return item_id
                seen.add(item_id)
        return None

    def _ids_are_positions(self) -> bool:
        return all(i == str(n) for n, i in enumerate(self.ids))

    def sidecar(self, has_images: bool) -> Sidecar:
        ids = None if self._ids_are_positions() else self.ids
        sizes = self.sizes if has_images and self.uniform_size is None else None
        return Sidecar(ids=ids, sizes=sizes)


# --- the IDX sidecar: <subset>-meta.gz ---------------------------------------------------------------------------

#: The built-in writes sidecar ids as 32-character strings; we do too whenever ids fit.
_SIDECAR_CHARS = 32


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def _prime_at_least(n: int) -> int:
    while not _is_prime(n):
        n += 1
    return n


#: The widest cell we write: the longest id the id rule allows, in the prime width it needs.
_MAX_CELL_CHARS = _prime_at_least(MAX_ID_CHARS)


def read_idx_sidecar(path: str, count: int) -> Sidecar:
    """Read ``<subset>-meta.gz``: a gzipped flat array of fixed-width UTF-32 strings, one row per item.

    The built-in writes 32-character cells. Longer ids need wider cells, and the file does not say
    how wide, so we write those with a prime cell width: a row of 1, 2 or 3 cells of prime width p
    is p, 2p or 3p characters, which no 32-character layout (a multiple of 32) and no other
    column count can produce. See :func:`write_idx_sidecar`.
    """
    if count == 0:
        return Sidecar()
    raw = _gunzip_at_most(path, count * 3 * 4 * _MAX_CELL_CHARS + 1)  # more than any sidecar of *count* rows we write
    if len(raw) % (count * 4):
        raise DatasetImportError(f"{path}: sidecar size {len(raw)} bytes does not divide into {count} rows")
    row_chars = len(raw) // (count * 4)
    layout = _idx_sidecar_layout(row_chars)
    if layout is None:
        raise DatasetImportError(f"{path}: sidecar rows of {row_chars} characters are not [id], [h, w] or [id, h, w]")
    chars, cols = layout
    code_points = np.frombuffer(raw, dtype="<u4")
    bad = np.flatnonzero((code_points > 0x10FFFF) | ((code_points >= 0xD800) & (code_points < 0xE000)))
    if bad.size:  # numpy would raise a SystemError turning such cells into str
        raise DatasetImportError(f"{path}: sidecar is not UTF-32 text (bad code point at byte {bad[0] * 4})")
    cells = np.frombuffer(raw, dtype=f"<U{chars}").reshape(count, cols)
    return Sidecar.from_rows(path, cells.tolist())


def _gunzip_at_most(path: str, limit: int) -> bytearray:
    raw = bytearray()
    try:
        with gzip.open(path, "rb") as f:
            # in chunks: f.read(limit) would allocate the whole limit up front
            while len(raw) < limit:
                chunk = f.read(min(1 << 20, limit - len(raw)))
                if not chunk:
                    break
                raw += chunk
    except (OSError, EOFError, zlib.error) as e:
        # `from None`: Datumaro's import_from reports an error's cause *instead of* the error, losing our message
        raise DatasetImportError(f"{path}: sidecar is not a readable gzip file ({e})") from None
    return raw


def _idx_sidecar_layout(row_chars: int) -> Optional[tuple]:
    """(cell width, column count) of sidecar rows *row_chars* characters long."""
    if row_chars in (_SIDECAR_CHARS, 2 * _SIDECAR_CHARS, 3 * _SIDECAR_CHARS):
        return _SIDECAR_CHARS, row_chars // _SIDECAR_CHARS
    for cols in (1, 2, 3):
        if row_chars % cols == 0 and _is_prime(row_chars // cols) and row_chars // cols > _SIDECAR_CHARS:
            return row_chars // cols, cols
    return None


def write_idx_sidecar(path: str, sidecar: Sidecar) -> None:
    rows = sidecar.rows()
    chars = max((len(cell) for row in rows for cell in row), default=0)
    # the built-in's layout, which it can read too, or the prime width that tells longer ids apart
    chars = _SIDECAR_CHARS if chars <= _SIDECAR_CHARS else _prime_at_least(chars)
    # in blocks of ~16 MB: one long id widens every row's cells
    block = max(1, (16 << 20) // (4 * chars * max(1, len(rows[0]) if rows else 1)))
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for start in range(0, len(rows), block):
            f.write(np.array(rows[start : start + block], dtype=f"<U{chars}").tobytes())


# --- the CSV sidecar: meta_<subset>.csv --------------------------------------------------------------------------


def csv_sidecar_name(subset: str) -> str:
    return f"meta_{subset}.csv"


def read_csv_sidecar(path: str) -> Sidecar:
    """``meta_<subset>.csv`` as the built-in writes it: rows of ``id``, ``h,w`` or ``id,h,w``.

    Read a line at a time, each at most three of the csv module's fields long: a line of a gigabyte
    is an error, not a gigabyte of memory.
    """
    try:
        with io.TextIOWrapper(io.BufferedReader(open_regular(path)), encoding="utf-8-sig", newline="") as f:
            rows = [row for row in csv.reader(_bounded_lines(path, f, 3 * (csv.field_size_limit() + 3))) if row]
    except IdxFormatError as e:
        raise DatasetImportError(str(e)) from None
    except (UnicodeDecodeError, csv.Error, OSError) as e:
        raise DatasetImportError(f"{path}: not a CSV sidecar ({e})") from None
    return Sidecar.from_rows(path, rows)


def _bounded_lines(path: str, f: io.TextIOBase, limit: int) -> Iterator[str]:
    for number, line in enumerate(iter(lambda: f.readline(limit + 1), ""), 1):
        if len(line) > limit:
            raise DatasetImportError(f"{path}: line {number} is longer than any row of this file can be ({limit} characters)")
        yield line


def write_csv_sidecar(path: str, sidecar: Sidecar) -> None:
    """Byte for byte what the built-in writes for the same rows (it can read ours)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        plain = csv.writer(f, lineterminator="\n")
        quoted = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a lone "\r" ends a row unless quoted
        for row in sidecar.rows():
            (quoted if any("\r" in cell for cell in row) else plain).writerow(row)
