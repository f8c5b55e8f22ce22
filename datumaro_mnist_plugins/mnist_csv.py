"""The ``mnist_csv`` format: MNIST as text, one row per image, the label then the pixels row by row.

    [prefix]mnist_<subset>.csv      one row per item (mnist_train.csv, fashion-mnist_test.csv, ...)
    meta_<subset>.csv               optional sidecar: item ids and/or per-item sizes (Datumaro's layout)
    labels.txt / dataset_meta.json  class names, as in ``mnist``

Three dialects, told apart by the first line's content:

* no header, ``7,0,0,...``: the original "MNIST in CSV" and what Datumaro's built-in writes;
  a row holding only a label is an item without an image, and the label ``-1`` means "no label";
* a header with a ``label`` column first (``label,1x1,...,28x28`` or ``label,pixel0,...``, as on Kaggle);
  ``<rows>x<cols>`` names in the header give the image size;
* a header without ``label`` (Kaggle's ``test.csv``): pixels only, items without annotations.

Images are 28x28 unless the header or the sidecar says otherwise. The text is parsed by vectorized numpy
over cache-sized blocks of whole lines, and every image is a view of one parsed uint8 array. Rows that
are not numbers 0..255 or have a length no image size explains go through the import error policy with
the file, line and column, so a user can skip them.
"""

from __future__ import annotations

import csv
import io
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset_base import DatasetItem, SubsetBase
from datumaro.components.errors import DatasetImportError, InvalidAnnotationError
from datumaro.components.format_detection import FormatDetectionConfidence
from datumaro.components.importer import ImportContext, Importer
from datumaro.components.media import Image

from .export import IMAGES_DIR, DigitsExporter, SubsetWriter
from .family import MNIST_SIDE
from .files import image_files_by_id, is_present, refuse_shared_subsets
from .items import make_item, subset_from_file
from .labels import NO_LABEL, label_categories, load_label_names
from .sidecar import Sidecar, SidecarCollector
from .subset_names import SubsetFile
from .files import recover_interrupted_export
from .codecs.idx import IdxFormatError, open_regular
from .items import built_in_batches, image_size, new_image, subsets_side_by_side

EXTENSION = ".csv"
#: How the built-in (and we) write "no label" in the label column.
CSV_NO_LABEL = -1
_DATA_FILE = re.compile(r"^(?P<prefix>.*?mnist)_(?P<subset>.+)\.csv$")
_OWNED_FILE = re.compile(rf"(.*mnist_.+\.csv|meta_.+\.csv|labels\.txt|dataset_meta\.json|{IMAGES_DIR})$")
_NUMBER = re.compile(r"\s*-?\d+\s*")
_SIZE_COLUMN = re.compile(r"(\d+)x(\d+)")
_LABEL_FIELD = re.compile(r"-?\d{1,3}")
_PIXEL_FIELD = re.compile(r"\d{1,3}")
_DEFAULT_SIZE = (MNIST_SIDE, MNIST_SIDE)
#: Parse this many bytes at a time: numpy's passes over a block then run in the CPU cache.
_BLOCK_BYTES = 1 << 18
_BOM = b"\xef\xbb\xbf"


def subset_of(file_name: str) -> str:
    """``fashion-mnist_test.csv`` -> ``test``; a file named otherwise gives its stem."""
    match = _DATA_FILE.match(file_name)
    return match["subset"] if match else osp.splitext(file_name)[0]


def data_file_name(subset: str) -> str:
    return f"mnist_{subset}{EXTENSION}"


def sidecar_path(folder: str, subset: str) -> str:
    return osp.join(folder, f"meta_{subset}{EXTENSION}")


def read_sidecar(path: str) -> Sidecar:
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


def write_sidecar(path: str, sidecar: Sidecar) -> None:
    """Byte for byte what the built-in writes for the same rows (it can read ours)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        plain = csv.writer(f, lineterminator="\n")
        quoted = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a lone "\r" ends a row unless quoted
        for row in sidecar.rows():
            (quoted if any("\r" in cell for cell in row) else plain).writerow(row)


# --- the header line -------------------------------------------------------------------------------------


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
        return Dialect(has_header=False, has_label=True, size=_DEFAULT_SIZE)
    columns = [field.strip() for field in fields]
    has_label = columns[0].lower() == "label"
    pixels = columns[1:] if has_label else columns
    if any(column.lower() == "label" for column in pixels):
        raise DatasetImportError(f"{path}: line 1: the 'label' column must come first")
    size = None
    named = _SIZE_COLUMN.fullmatch(pixels[-1]) if pixels else None
    if named and int(named[1]) * int(named[2]) == len(pixels):
        size = (int(named[1]), int(named[2]))
    elif len(pixels) == MNIST_SIDE * MNIST_SIDE:
        size = _DEFAULT_SIZE
    elif not pixels:
        size = (0, 0)
    return Dialect(has_header=True, has_label=has_label, size=size, pixel_columns=len(pixels))


# --- the rows: vectorized parsing of blocks of whole lines ---------------------------------------------------

# Bytes minus ord("0") (mod 256): digits become 0..9, every other byte 10 or more.
_COMMA, _NEWLINE, _MINUS = ((ord(c) - ord("0")) % 256 for c in ",\n-")


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
        raise DatasetImportError(f"{path}: line {line + e.lines_before} is longer than {what} of this file can be ({e.limit} bytes)") from None
    except IdxFormatError as e:
        raise DatasetImportError(str(e)) from None
    except OSError as e:
        raise DatasetImportError(f"{path}: can't read the file ({e})") from None
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


# --- the extractor ---------------------------------------------------------------------------------------------


class MnistCsvBase(SubsetBase):
    """One subset of an MNIST CSV dataset; *path* is its ``*mnist_<subset>.csv`` file."""

    def __init__(
        self,
        path: str,
        *,
        subset: Optional[str] = None,
        stream: bool = False,
        ctx: Optional[ImportContext] = None,
    ):
        if not is_present(path):
            raise DatasetImportError(f"{path}: not an MNIST CSV file")
        folder = osp.dirname(osp.abspath(path))
        super().__init__(subset=subset or subset_from_file(path, subset_of(osp.basename(path))), ctx=ctx)
        self._path = path
        self._stream = stream
        self._categories = label_categories(load_label_names(folder))

        meta_path = sidecar_path(folder, self._subset)
        self._sidecar = read_sidecar(meta_path) if is_present(meta_path) else Sidecar()
        widest = max((h * w for h, w in self._sidecar.sizes or ()), default=0)
        self._dialect, self._rows = read_rows(path, widest)
        self._count = len(self._rows.starts)
        self._check_sidecar(meta_path)
        self._pixel_counts = self._rows.counts - int(self._dialect.has_label)
        self._problems = self._wrong_lengths(meta_path)

        self._image_files = None
        image_dir = osp.join(folder, IMAGES_DIR, self._subset)
        if self._dialect.has_label and np.any(self._pixel_counts == 0) and osp.isdir(image_dir):
            self._image_files = image_files_by_id(image_dir)
        if self._dialect.has_label:
            self._ann_types.add(AnnotationType.label)

    def _check_sidecar(self, meta_path: str) -> None:
        for column in (self._sidecar.ids, self._sidecar.sizes):
            if column is not None and len(column) != self._count:
                raise DatasetImportError(f"{meta_path}: {len(column)} rows for the {self._count} rows of {self._path}")
        if self._dialect.size is None and self._sidecar.sizes is None:
            raise DatasetImportError(
                f"{self._path}: line 1: {self._dialect.pixel_columns} pixel columns are not 28x28 and their names "
                f"do not give the size (like '16x16' for the last one); nor does a sidecar {osp.basename(meta_path)}"
            )

    def _wrong_lengths(self, meta_path: str) -> Dict[int, str]:
        """Rows whose length no image size explains: row -> why."""
        if self._sidecar.sizes is not None:
            sizes = np.array(self._sidecar.sizes, np.int64).reshape(-1, 2)
            expected = sizes[:, 0] * sizes[:, 1]
        else:
            h, w = self._dialect.size
            expected = np.full(self._count, h * w)
        fits = self._pixel_counts == expected
        if self._dialect.has_label:
            fits |= self._pixel_counts == 0  # a label alone: an item without an image
        problems = {}
        for row in np.flatnonzero(~fits).tolist():
            count = int(self._rows.counts[row])
            pixels = int(expected[row])
            if self._dialect.has_label:
                wanted = f"a label and {pixels} pixels ({pixels + 1} values), or a label alone"
            else:
                wanted = f"{pixels} pixels"
            if self._sidecar.sizes is None:
                wanted += f" (other image sizes need a sidecar {osp.basename(meta_path)})"
            problems[row] = f"{self._path}: line {int(self._rows.lines[row])}: {count} values; expected {wanted}"
        return problems

    def _item_id(self, index: int) -> str:
        return self._sidecar.ids[index] if self._sidecar.ids is not None else str(index)

    def _problem(self, index: int) -> Optional[str]:
        text = self._rows.bad_rows.get(index)
        if text is not None:
            where = explain_bad_row(text, self._dialect.has_label)
            return f"{self._path}: line {int(self._rows.lines[index])}, {where}"
        return self._problems.get(index)

    def _image(self, index: int) -> Optional[Image]:
        pixels = int(self._pixel_counts[index])
        if pixels == 0:
            path = self._image_files.get(self._item_id(index)) if self._image_files else None
            return Image.from_file(path=path) if path else None
        h, w = self._sidecar.sizes[index] if self._sidecar.sizes is not None else self._dialect.size
        start = int(self._rows.starts[index]) + int(self._dialect.has_label)
        return new_image(self._rows.values[start : start + pixels].reshape(h, w))  # size: the array's

    def _label(self, index: int) -> int:
        if not self._dialect.has_label:
            return NO_LABEL
        label = int(self._rows.labels[index])
        label_count = len(self._categories[AnnotationType.label])
        if label == CSV_NO_LABEL:
            return NO_LABEL
        if not 0 <= label < label_count:
            error = InvalidAnnotationError(
                f"{self._path}: line {int(self._rows.lines[index])}: label {label} is not one of the "
                f"{label_count} categories (labels.txt / dataset_meta.json)"
            )
            self._ctx.error_policy.report_annotation_error(error, item_id=(self._item_id(index), self._subset))
            return NO_LABEL
        return label

    def _uniform_rows(self):
        """(labels, images) when every row is a valid label (or the dialect has none: None) and one image of
        the dialect's size, else None.

        Then the rows sit back to back in the parsed values, the images are one strided view, and the
        loop builds items without a method call per field (the common case: every real MNIST CSV).
        """
        if self._sidecar.sizes is not None:  # sizes per row (the header's may be None)
            return None
        rows, (h, w) = self._rows, self._dialect.size
        width = h * w + int(self._dialect.has_label)
        if (
            self._problems
            or rows.bad_rows
            or not self._count
            or not h * w  # labels alone: items without images
            or not np.array_equal(rows.starts, np.arange(self._count) * width)
            or not (self._pixel_counts == h * w).all()
        ):
            return None
        table = rows.values[: self._count * width].reshape(self._count, width)
        images = table[:, width - h * w :].reshape(self._count, h, w)
        if not self._dialect.has_label:
            return [None] * self._count, images
        labels = rows.labels[: self._count]
        if ((labels < 0) | (labels >= len(self._categories[AnnotationType.label]))).any():
            return None
        return labels.tolist(), images

    def _item(self, index: int) -> Optional[DatasetItem]:
        """Row *index* as an item, or None when it is bad and the error policy skips it."""
        problem = self._problem(index)
        if problem:
            item_id = (self._item_id(index), self._subset)
            self._ctx.error_policy.report_item_error(DatasetImportError(problem), item_id=item_id)
            return None
        return make_item(self._item_id(index), self._subset, self._label(index), self._image(index))

    def __iter__(self) -> Iterator[DatasetItem]:
        indices = self._ctx.progress_reporter.iter(
            range(self._count), total=self._count, desc=f"Importing '{self._subset}'"
        )
        uniform = self._uniform_rows()
        if uniform is None:
            yield from built_in_batches(self._item, indices)
            return
        labels, images = uniform
        ids, subset, size = self._sidecar.ids, self._subset, image_size(images.shape[1:])  # one tuple for every image

        def build(index: int) -> DatasetItem:
            item_id = ids[index] if ids is not None else str(index)
            return make_item(item_id, subset, labels[index], new_image(images[index], size))

        yield from built_in_batches(build, indices)

    def __len__(self) -> int:
        return self._count

    @property
    def is_stream(self) -> bool:
        return self._stream


class MnistCsvImporter(Importer):
    """MNIST as CSV: ``*mnist_<subset>.csv`` files, found as Datumaro's built-in finds them."""

    DETECT_CONFIDENCE = FormatDetectionConfidence.MEDIUM

    @classmethod
    def find_sources(cls, path: str) -> List[Dict]:
        recover_interrupted_export(path)
        return cls._find_sources_recursive(
            path, EXTENSION, MnistCsvBase.NAME, file_filter=lambda p: bool(_DATA_FILE.match(osp.basename(p)))
        )

    @classmethod
    def find_sources_with_params(cls, path: str, **extra_params) -> List[Dict]:
        sources = cls.find_sources(path)
        refuse_shared_subsets((subset_of(osp.basename(s["url"])), s["url"]) for s in sources)
        return sources

    @classmethod
    def get_file_extensions(cls) -> List[str]:
        return [EXTENSION]

    @property
    def can_stream(self) -> bool:
        return True

    def get_extractor_merger(self):
        return subsets_side_by_side  # subsets read one after the other, not merged item by item


# --- the exporter ------------------------------------------------------------------------------------------------


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
#: Items formatted at once: enough to make numpy's per-call cost vanish, few enough to stay in cache.
_ROWS_PER_BATCH = 256


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


class _CsvSubsetWriter(SubsetWriter):
    """Rows formatted in batches and appended to ``mnist_<subset>.csv``; the sidecar written at the end."""

    def __init__(self, staging: str, subset: str):
        self._staging = staging
        self._subset = subset
        self._file = open(osp.join(staging, data_file_name(subset)), "wb")
        self._labels: List[int] = []
        self._images: List[Optional[np.ndarray]] = []
        self._has_images = False

    def add(self, label: int, pixels: Optional[np.ndarray]) -> None:
        self._labels.append(CSV_NO_LABEL if label == NO_LABEL else label)
        self._images.append(pixels)
        self._has_images |= pixels is not None
        if len(self._labels) >= _ROWS_PER_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._labels:
            self._file.write(format_rows(self._labels, self._images))
        self._labels, self._images = [], []

    def finish(self, collector: SidecarCollector) -> None:
        self._flush()
        self._file.close()
        sidecar = collector.sidecar(self._has_images)
        if self._has_images and sidecar.sizes is None and collector.uniform_size != _DEFAULT_SIZE:
            sidecar.sizes = collector.sizes  # a CSV row can't say its size: anything but 28x28 needs the sidecar
        if sidecar:
            write_sidecar(sidecar_path(self._staging, self._subset), sidecar)

    def close(self) -> None:
        self._file.close()


class MnistCsvExporter(DigitsExporter):
    """Writes headerless ``mnist_<subset>.csv`` files, labels.txt, and a sidecar when ids or sizes need one."""

    def open_subset(self, staging: str, subset: str) -> SubsetWriter:
        return _CsvSubsetWriter(staging, subset)

    @classmethod
    def owns(cls, name: str) -> bool:
        return bool(_OWNED_FILE.match(name))

    @classmethod
    def subset_files(cls, subset: str) -> List[SubsetFile]:
        return [
            SubsetFile(data_file_name(subset), "data"),
            SubsetFile(osp.basename(sidecar_path("", subset)), "aux"),
            SubsetFile(subset, "folder"),
        ]

    @classmethod
    def subset_of_file(cls, name: str) -> Optional[str]:
        match = _DATA_FILE.match(name)
        return match["subset"] if match else None
