"""MNIST as CSV rows, pure numpy: the header line's dialect, a vectorized parser of blocks of whole
lines, and the formatter. Nothing of Datumaro: errors are :class:`CsvFormatError` naming the file and
line; ``mnist_csv`` turns them into Datumaro's.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .idx import IdxFormatError, open_regular

#: The classic digit size; a CSV without a header (or with 784 unnamed pixel columns) holds 28x28 images.
MNIST_SIDE = 28

# Bytes minus ord("0") (mod 256): digits become 0..9, every other byte 10 or more.
_COMMA, _NEWLINE, _MINUS = ((ord(c) - ord("0")) % 256 for c in ",\n-")


class CsvFormatError(ValueError):
    """A CSV file that is not MNIST CSV; the message names the file and the line."""

_NUMBER = re.compile(r"\s*-?\d+\s*")

_SIZE_COLUMN = re.compile(r"(\d+)x(\d+)")

_LABEL_FIELD = re.compile(r"-?\d{1,3}")

_PIXEL_FIELD = re.compile(r"\d{1,3}")

DEFAULT_SIZE = (MNIST_SIDE, MNIST_SIDE)

#: Parse this many bytes at a time: numpy's passes over a block then run in the CPU cache.
_BLOCK_BYTES = 1 << 18

_BOM = b"\xef\xbb\xbf"


@dataclass
class Dialect:
    has_header: bool
    has_label: bool
    #: The image size the header names (or MNIST's), None if the header names pixels of no known size.
    size: Optional[Tuple[int, int]]
    pixel_columns: int = MNIST_SIDE * MNIST_SIDE


def read_dialect(path: str, first_line: bytes) -> Dialect:
    """A first line of names only is a header; anything else is the first row of a headerless file."""
    try:
        fields = next(csv.reader([first_line.decode("utf-8").rstrip("\r\n")]), [])
    except (UnicodeDecodeError, csv.Error):
        fields = []  # not names: a (bad) row, reported as such
    if not fields or any(_NUMBER.fullmatch(field) for field in fields):
        return Dialect(has_header=False, has_label=True, size=DEFAULT_SIZE)
    columns = [field.strip() for field in fields]
    has_label = columns[0].lower() == "label"
    pixels = columns[1:] if has_label else columns
    if any(column.lower() == "label" for column in pixels):
        raise CsvFormatError(f"{path}: line 1: the 'label' column must come first")
    size = None
    named = _SIZE_COLUMN.fullmatch(pixels[-1]) if pixels else None
    if named and int(named[1]) * int(named[2]) == len(pixels):
        size = (int(named[1]), int(named[2]))
    elif len(pixels) == MNIST_SIDE * MNIST_SIDE:
        size = DEFAULT_SIZE
    elif not pixels:
        size = (0, 0)
    return Dialect(has_header=True, has_label=has_label, size=size, pixel_columns=len(pixels))


@dataclass
class ParsedRows:
    """The rows of some lines of a CSV file; ``values`` holds every field, rows point into it."""

    values: np.ndarray  # uint8, every field in file order (a few unused slots: signs, blank lines)
    labels: np.ndarray  # int16 per row: its first field (the label, when the dialect has one)
    starts: np.ndarray  # int64 per row: index of its first field in ``values``
    counts: np.ndarray  # int64 per row: how many fields it has
    lines: np.ndarray  # int64 per row: its line number in the file
    bad_rows: Dict[int, bytes]  # row -> its text, for rows with a field that is not a number 0..255
    line_count: int  # lines of text these rows come from (blank lines included)


def parse_rows(buf: bytes, first_line: int, has_label: bool) -> ParsedRows:
    """Parse lines of comma-separated integers (*buf* ends with a newline) without a Python loop per value.

    A block of plain rows (the usual case) takes the quick path; any other block is parsed field by
    field, blank lines skipped and bad fields located for the error messages.
    """
    if b"\r" in buf:
        buf = buf.replace(b"\r\n", b"\n")
    plain = _parse_plain(buf, first_line)
    return plain if plain is not None else _parse_checked(buf, first_line, has_label)

#: Bytes of field separators put before a block, so every field can look three bytes back.
_LOOK_BACK = 3


def _parse_plain(buf: bytes, first_line: int) -> Optional[ParsedRows]:
    """The rows of a block holding only fields of 1..3 digits with values 0..255, else None.

    The value of a field ending at each byte is computed for every byte at once (elementwise:
    cheap), then one gather at the field ends collects them. Finding the field ends and that
    gather are the only passes that are not elementwise.
    """
    codes = np.empty(len(buf) + _LOOK_BACK, np.uint8)
    codes[:_LOOK_BACK] = _COMMA
    np.subtract(np.frombuffer(buf, np.uint8), 48, out=codes[_LOOK_BACK:])
    is_digit = codes <= 9
    is_end = ~is_digit
    pairs = is_digit[1:] & is_digit[:-1]
    if (is_end[_LOOK_BACK:] & is_end[_LOOK_BACK - 1 : -1]).any() or (pairs[2:] & pairs[:-2]).any():
        return None  # an empty field or line, or four digits in a row
    digits = codes * is_digit.view(np.uint8)  # separators count as 0
    # index i stands for a field ending at byte i + _LOOK_BACK: its hundreds (0 unless it has three digits) ...
    value = (digits[:-3] * is_digit[1:-2].view(np.uint8)).astype(np.uint16)
    value *= 100
    tens_units = digits[1:-2] * np.uint8(10)
    tens_units += digits[2:-1]
    value += tens_units  # ... and the rest
    text = codes[_LOOK_BACK:]
    ends = np.flatnonzero(is_end[_LOOK_BACK:])
    newlines = np.flatnonzero(text == _NEWLINE)
    if len(ends) != len(newlines) + np.count_nonzero(text == _COMMA):
        return None  # a byte that is not a digit, comma or newline
    values = value.take(ends)
    if values.max() > 255:
        return None
    values = values.astype(np.uint8)
    row_ends = np.searchsorted(ends, newlines)
    counts = np.diff(row_ends, prepend=-1)
    starts = row_ends - counts + 1
    lines = first_line + np.arange(len(row_ends))
    return ParsedRows(values, values[starts].astype(np.int16), starts, counts, lines, {}, len(row_ends))


def _parse_checked(buf: bytes, first_line: int, has_label: bool) -> ParsedRows:
    """Any block: each field ends at a non-digit byte, its value read from the up to three digits before it.

    Fields that are not numbers are flagged (see :func:`_flag_bad_fields`) and blank lines skipped.
    """
    codes = np.empty(len(buf) + _LOOK_BACK, np.uint8)
    codes[:_LOOK_BACK] = 255  # non-digits before the text
    np.subtract(np.frombuffer(buf, np.uint8), 48, out=codes[_LOOK_BACK:])
    ends = np.flatnonzero(codes > 9)[_LOOK_BACK:]
    terms = codes[ends]
    gaps = np.diff(ends, prepend=_LOOK_BACK - 1)  # a field's length + 1
    values = codes[ends - 1].astype(np.int16)
    tens = np.flatnonzero(gaps >= 3)
    values[tens] += codes[ends[tens] - 2].astype(np.int16) * 10
    hundreds = tens[gaps[tens] >= 4]
    values[hundreds] += codes[ends[hundreds] - 3].astype(np.int16) * 100

    row_ends = np.flatnonzero(terms == _NEWLINE)
    line_count = len(row_ends)
    counts = np.diff(row_ends, prepend=-1)
    starts = row_ends - counts + 1
    lines = first_line + np.arange(line_count)
    bad, signed = _flag_bad_fields(values, terms, gaps - 1, starts, has_label)
    starts += signed
    counts -= signed
    newlines = ends[row_ends] - _LOOK_BACK  # byte offsets in *buf*
    bad_rows = {}
    for row in np.unique(np.searchsorted(row_ends, np.flatnonzero(bad))).tolist():
        begin = int(newlines[row - 1]) + 1 if row else 0
        bad_rows[row] = buf[begin : int(newlines[row])]
    blank = (counts == 1) & (gaps[row_ends] == 1) & (signed == 0)
    if blank.any():  # blank lines are skipped; their slot in ``values`` stays unused
        keep = np.flatnonzero(~blank)
        bad_rows = {int(np.searchsorted(keep, row)): text for row, text in bad_rows.items() if not blank[row]}
        starts, counts, lines = starts[keep], counts[keep], lines[keep]
    labels = values[starts]
    return ParsedRows(values.astype(np.uint8), labels, starts, counts, lines, bad_rows, line_count)


def _flag_bad_fields(values, terms, lengths, starts, has_label) -> Tuple[np.ndarray, np.ndarray]:
    """Which fields are not numbers 0..255 (labels: any number), and which rows start with a sign.

    A field is bad when it is empty, longer than three digits or ended by anything but a comma or a
    newline. A ``-`` is a sign only at the start of a row (the built-in's label ``-1``): it parses as
    an empty field ended by ``-``; the next field is negated and the row starts after it.
    *values* is updated in place; returns (bad per field, 1 per row that starts with a sign).
    """
    bad = (lengths == 0) | (lengths > 3) | ((terms != _COMMA) & (terms != _NEWLINE))
    is_sign = np.zeros(len(values), bool)
    minus = np.flatnonzero(terms == _MINUS)
    if minus.size:
        at_row_start = (minus == 0) | (terms[minus - 1] == _NEWLINE)
        signs = minus[(lengths[minus] == 0) & at_row_start]
        values[signs + 1] *= -1
        bad[signs] = False
        is_sign[signs] = True
    signed = is_sign[starts].astype(starts.dtype)
    pixel = (values < 0) | (values > 255)
    if has_label:
        pixel[starts + signed] = False  # labels are checked against the categories instead
    return bad | pixel, signed


def line_blocks(f: io.BufferedIOBase, head: bytes = b"", max_line: Optional[int] = None) -> Iterator[bytes]:
    """The rest of *f* (after *head*) in blocks of whole lines, each ending with a newline.

    A line longer than *max_line* bytes raises :class:`LineTooLong` once that much of it is read.
    """
    pending = [head] if head else []
    pending_bytes = len(head)
    while True:
        data = f.read(_BLOCK_BYTES)
        if not data:
            break
        cut = data.rfind(b"\n") + 1
        if not cut:
            pending.append(data)
            pending_bytes += len(data)
            if max_line is not None and pending_bytes > max_line:
                raise LineTooLong(max_line, sum(part.count(b"\n") for part in pending))
            continue
        pending.append(memoryview(data)[:cut])  # joined without a copy of its own
        yield b"".join(pending)
        pending = [data[cut:]]
        pending_bytes = len(data) - cut
    tail = b"".join(pending)
    if tail:
        yield tail if tail.endswith(b"\n") else tail + b"\n"


class LineTooLong(ValueError):
    """A line longer than any the file's rows can be (the reader stopped reading it)."""

    def __init__(self, limit: int, lines_before: int = 0):
        super().__init__(limit)
        self.limit = limit
        self.lines_before = lines_before  # whole lines read before it, since the last block


def concat_rows(parts: Sequence[ParsedRows]) -> ParsedRows:
    """The rows of consecutive blocks as one: one values array, row indices shifted."""
    value_offsets = np.cumsum([0] + [len(p.values) for p in parts])
    row_offsets = np.cumsum([0] + [len(p.starts) for p in parts])
    bad_rows = {}
    for part, offset in zip(parts, row_offsets.tolist()):
        bad_rows.update((offset + row, text) for row, text in part.bad_rows.items())
    return ParsedRows(
        values=np.concatenate([p.values for p in parts]) if parts else np.zeros(0, np.uint8),
        labels=np.concatenate([p.labels for p in parts]) if parts else np.zeros(0, np.int16),
        starts=np.concatenate([p.starts + o for p, o in zip(parts, value_offsets)] or [np.zeros(0, np.int64)]),
        counts=np.concatenate([p.counts for p in parts] or [np.zeros(0, np.int64)]),
        lines=np.concatenate([p.lines for p in parts] or [np.zeros(0, np.int64)]),
        bad_rows=bad_rows,
        line_count=sum(p.line_count for p in parts),
    )


def _first_line(f: io.BufferedIOBase, limit: int) -> bytes:
    """The first line of *f*, read in pieces (``readline(limit)`` would reserve *limit* bytes up front)."""
    parts: List[bytes] = []
    size = 0
    while not parts or (parts[-1] and not parts[-1].endswith(b"\n")):
        parts.append(f.readline(1 << 16))
        size += len(parts[-1])
        if size > limit:
            raise LineTooLong(limit)
    return b"".join(parts)

#: A header line may name this many bytes of columns (1.5 million of them: a 1224x1224 image's).
_MAX_HEADER_BYTES = 16 << 20

#: Bytes a row may spend on each of its values: ``255,`` is 4; one more for a bad field to be reported as such.
_BYTES_PER_VALUE = 5


def read_rows(path: str, widest_image: int = 0) -> Tuple[Dialect, ParsedRows]:
    """The dialect and the rows of a whole file.

    No line may be longer than the widest row the file can hold: a label and the header's pixel columns,
    *widest_image* (the sidecar's largest size) or 28x28 pixels, whichever is most.
    """
    line, what = 1, "a header"
    try:
        with io.BufferedReader(open_regular(path), _BLOCK_BYTES) as f:
            head = _first_line(f, _MAX_HEADER_BYTES)
            if head.startswith(_BOM):
                head = head[len(_BOM) :]
            dialect = read_dialect(path, head)
            widest = max(widest_image, dialect.pixel_columns if dialect.has_header else MNIST_SIDE * MNIST_SIDE)
            max_line = (widest + 1) * _BYTES_PER_VALUE + 16
            what = f"a row (a label and {widest} pixel values)"
            if not dialect.has_header and len(head) > max_line:
                raise LineTooLong(max_line)
            line = 2 if dialect.has_header else 1
            parts = []
            for block in line_blocks(f, b"" if dialect.has_header else head, max_line):
                parts.append(parse_rows(block, line, dialect.has_label))
                line += parts[-1].line_count
    except LineTooLong as e:
        raise CsvFormatError(f"{path}: line {line + e.lines_before} is longer than {what} of this file can be ({e.limit} bytes)") from None
    except IdxFormatError as e:
        raise CsvFormatError(str(e)) from None
    except OSError as e:
        raise CsvFormatError(f"{path}: can't read the file ({e})") from None
    return dialect, concat_rows(parts)


def explain_bad_row(text: bytes, has_label: bool) -> str:
    """Which field of a flagged row is wrong, for the error message."""
    fields = text.decode("utf-8", errors="replace").split(",")
    for column, field in enumerate(fields, 1):
        if has_label and column == 1:
            if not _LABEL_FIELD.fullmatch(field):
                return f"column 1: label {field!r} is not a class index (-1 for none, up to 999)"
        elif not _PIXEL_FIELD.fullmatch(field) or int(field) > 255:
            return f"column {column}: {field!r} is not a pixel value 0..255"
    return "not a row of comma-separated numbers"


def _token_table() -> np.ndarray:
    """The text of every value a row holds, as little-endian uint32 of up to 4 bytes (NUL-padded).

    Index ``v + 1`` is ``v`` followed by a comma, ``v + 1 + ROW_END`` the same followed by a newline;
    index 0 is the label ``-1``.
    """
    texts = [str(v) for v in range(-1, 256)]
    tokens = [(t + ",").encode() for t in texts] + [(t + "\n").encode() for t in texts]
    return np.frombuffer(b"".join(t.ljust(4, b"\0") for t in tokens), dtype="<u4")

_TOKENS = _token_table()

_ROW_END = len(_TOKENS) // 2


def format_rows(labels: Sequence[int], images: Sequence[Optional[np.ndarray]]) -> bytes:
    """Headerless CSV rows ``label,p0,p1,...`` (a label alone for an item without an image)."""
    counts = np.array([1 + (image.size if image is not None else 0) for image in images], np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    values = np.empty(int(ends[-1]) if len(ends) else 0, np.int16)
    values[starts] = labels
    for start, image in zip(starts.tolist(), images):
        if image is not None:
            values[start + 1 : start + 1 + image.size] = image.reshape(-1)
    index = values + 1
    index[ends - 1] += _ROW_END
    return _TOKENS[index].tobytes().translate(None, b"\0")  # drop the padding: a C loop, faster than a mask
