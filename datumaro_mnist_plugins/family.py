"""What tells the MNIST family apart, as tables: file names, orientation, class names, QMNIST's columns.

The members share the IDX container and differ only in details that ``mnist.py`` looks up here:

- EMNIST names its files ``emnist-<split>-<train|test>-...`` and stores every image transposed;
  ``emnist-<split>-mapping.txt`` (``label code [code ...]``, ASCII codes) names its classes.
- QMNIST names its files ``qmnist-<train|test>-...`` (torchvision adds ``xnist-...``, the 402,953
  other NIST digits) and has extended labels, ``-labels-idx2-int``: 8 int32 columns per digit.
- KMNIST may ship ``kmnist_classmap.csv`` (``index,codepoint,char``).
- Fashion-MNIST and KMNIST use MNIST's own file names; torchvision's folder names (``FashionMNIST/raw``,
  ``KMNIST/raw``) or Zalando's (``data/fashion``) give their class names when no file does.
"""

from __future__ import annotations

import csv
import operator
import os.path as osp
import re
import string
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from datumaro.components.errors import DatasetExportError, DatasetImportError

from .files import is_present, read_side_file
from .labels import NO_LABEL, names_from_files

DIGITS = list(string.digits)


# --- file names -----------------------------------------------------------------------------------------


class Naming(NamedTuple):
    """How a file prefix (the name before ``-images-idx3-ubyte``) names a subset of one family member."""

    pattern: "re.Pattern[str]"
    #: EMNIST stores each image transposed (column by column); items must come out upright.
    transposed: bool


#: First match wins; the last one is MNIST's own ``<subset>-...``.
NAMINGS: Tuple[Naming, ...] = (
    Naming(re.compile(r"emnist-(?P<split>[a-z]+)-(?P<subset>train|test)"), transposed=True),
    Naming(re.compile(r"qmnist-(?P<subset>train|test)"), transposed=False),
    Naming(re.compile(r"(?P<subset>.+)"), transposed=False),
)
#: Prefixes that are not the subset's name: MNIST's test files are ``t10k-...``, torchvision's QMNIST
#: "nist" part is ``xnist-...``.
#: MNIST calls its test subset "t10k" in file names; this is the one place that says so.
TEST_PREFIX = "t10k"
SUBSET_RENAMES = {TEST_PREFIX: "test", "xnist": "nist"}


def subset_of(prefix: str) -> str:
    """What a prefix's sidecar ``<subset>-meta.gz`` is named after (items' subsets: ``SubsetFiles.subset``)."""
    return "test" if prefix == TEST_PREFIX else prefix


def prefix_of(subset: str) -> str:
    """The file-name prefix MNIST gives *subset*'s files: ``test`` is ``t10k``."""
    return TEST_PREFIX if subset == "test" else subset


class PrefixInfo(NamedTuple):
    subset: str
    split: Optional[str]
    transposed: bool


def parse_prefix(prefix: str) -> PrefixInfo:
    """``emnist-letters-test`` -> subset ``test`` of EMNIST split ``letters``, transposed."""
    for naming in NAMINGS:
        match = naming.pattern.fullmatch(prefix)
        if match:
            subset = match["subset"]
            return PrefixInfo(SUBSET_RENAMES.get(subset, subset), match.groupdict().get("split"), naming.transposed)
    raise AssertionError("the last naming matches any prefix")


def dataset_name(root: str, folder: str) -> str:
    """What tells one dataset folder under *root* from the others: ``MNIST`` for ``root/MNIST/raw``."""
    parts = osp.relpath(folder, root).replace(osp.sep, "/").split("/")
    if len(parts) > 1 and parts[-1] == "raw":  # torchvision's <root>/<Dataset>/raw
        parts = parts[:-1]
    return "-".join(parts)


# --- class names ----------------------------------------------------------------------------------------

#: Zalando's names, but "T-shirt/top" is "T-shirt_top": exports that make a folder per class (imagenet)
#: would nest a "/" one level down.
FASHION = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
#: KMNIST's classes as its ``kmnist_classmap.csv`` names them (torchvision romanizes them: o, ki, su...).
KMNIST = list("おきすつなはまやれを")
#: A class index no class uses (EMNIST letters start at 1), named so every index has a unique name.
UNUSED = "unused-{}"
_MERGED_LOWER = "abdefghnqrt"  # the lower case letters bymerge/balanced keep apart from upper case
#: EMNIST's classes per split, as its mapping files give them (for torchvision's folder, which lacks them).
#: A letters class holds both cases: its mapping line has both codes, so its name has both characters.
EMNIST = {
    "byclass": DIGITS + list(string.ascii_uppercase + string.ascii_lowercase),
    "bymerge": DIGITS + list(string.ascii_uppercase + _MERGED_LOWER),
    "balanced": DIGITS + list(string.ascii_uppercase + _MERGED_LOWER),
    "letters": [UNUSED.format(0)] + [u + lo for u, lo in zip(string.ascii_uppercase, string.ascii_lowercase)],
    "digits": DIGITS,
    "mnist": DIGITS,
}
#: Folder name (lower case, without '-' and '_') -> class names, when no file in it names them.
FOLDER_NAMES = {"fashionmnist": FASHION, "fashion": FASHION, "kmnist": KMNIST}
KMNIST_CLASSMAP = "kmnist_classmap.csv"


def emnist_mapping_file(folder: str, split: str) -> str:
    return osp.join(folder, f"emnist-{split}-mapping.txt")


def label_names(folder: str, split: Optional[str]) -> List[str]:
    """The class names of the data in *folder* (of EMNIST split *split*, if one), first source found:

    ``dataset_meta.json`` > ``labels.txt`` > ``emnist-<split>-mapping.txt`` > ``kmnist_classmap.csv``
    > the split's known names > the names the folder's name implies > the digits.
    """
    names = names_from_files(folder)
    if names is not None:
        return names
    if split and is_present(emnist_mapping_file(folder, split)):
        return _emnist_mapping(emnist_mapping_file(folder, split))
    if is_present(osp.join(folder, KMNIST_CLASSMAP)):
        return _kmnist_classmap(osp.join(folder, KMNIST_CLASSMAP))
    if split in EMNIST:
        return list(EMNIST[split])
    name = osp.basename(folder)
    if name == "raw":  # torchvision's <root>/<Dataset>/raw
        name = osp.basename(osp.dirname(folder))
    return list(FOLDER_NAMES.get(re.sub(r"[-_]", "", name.lower()), DIGITS))


def _read_text(path: str) -> str:
    try:
        return read_side_file(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetImportError(f"{path}: not UTF-8 text (byte {e.start})") from None


def _emnist_mapping(path: str) -> List[str]:
    """``emnist-<split>-mapping.txt``: ``label code [code ...]`` per line -> the codes' characters."""
    table: Dict[int, str] = {}
    for line_number, line in enumerate(_read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            label, *codes = (int(field) for field in fields)
            name = "".join(chr(code) for code in codes)
            name.encode("utf-8")  # a surrogate code (0xD800..0xDFFF) is no character: UnicodeEncodeError
        except (ValueError, OverflowError):
            raise DatasetImportError(
                f"{path}: line {line_number}: expected 'label code [code ...]' with character codes, got {line!r}"
            ) from None
        if not codes:
            raise DatasetImportError(f"{path}: line {line_number}: label {label} has no character code")
        _add_name(path, f"line {line_number}", table, label, name)
    return _names_by_index(path, table)


def _kmnist_classmap(path: str) -> List[str]:
    """``kmnist_classmap.csv``: ``index,codepoint,char`` rows -> the characters."""
    try:
        rows = list(csv.DictReader(_read_text(path).splitlines()))
    except csv.Error as e:  # a field over the csv module's limit, a NUL byte
        raise DatasetImportError(f"{path}: not a CSV class map ({e})") from None
    table: Dict[int, str] = {}
    for line_number, row in enumerate(rows, 2):
        try:
            index, name = int(row["index"]), row["char"].strip()
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DatasetImportError(
                f"{path}: line {line_number}: expected the columns index,codepoint,char, got {row}"
            ) from None
        _add_name(path, f"line {line_number}", table, index, name)
    return _names_by_index(path, table)


def _add_name(path: str, where: str, table: Dict[int, str], index: int, name: str) -> None:
    if not 0 <= index < NO_LABEL:  # an IDX labels file holds classes 0..254; 255 is "no label"
        raise DatasetImportError(f"{path}: {where}: class index {index} is outside 0..{NO_LABEL - 1}")
    if not name:
        raise DatasetImportError(f"{path}: {where}: class {index} has an empty name")
    if index in table:
        raise DatasetImportError(f"{path}: {where}: class {index} is listed twice")
    table[index] = name


def _names_by_index(path: str, table: Dict[int, str]) -> List[str]:
    if not table:
        raise DatasetImportError(f"{path}: names no class")
    names = [table.get(i, UNUSED.format(i)) for i in range(max(table) + 1)]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise DatasetImportError(f"{path}: two classes are named {duplicate!r}")
    return names


def merged_names(name_lists: Sequence[Sequence[str]]) -> List[str]:
    """One category list for several datasets: every name once, in order of first appearance."""
    merged: Dict[str, None] = {}
    for names in name_lists:
        merged.update(dict.fromkeys(names))
    return list(merged)


# --- QMNIST's extended labels ---------------------------------------------------------------------------

EXTENDED_LABELS_KIND = "labels-idx2-int"
#: Columns 1..7 of ``-labels-idx2-int`` (column 0 is the class) -> (Label attribute, value written when an
#: item lacks the attribute). Values equal to that are not made attributes, so import/export is lossless.
QMNIST_COLUMNS: Tuple[Tuple[str, int], ...] = (
    ("hsf_series", -1),  # NIST HSF series: 0, 1 or 4
    ("writer_id", -1),
    ("writer_digit_index", -1),  # the digit's index among its writer's
    ("nist_class_code", -1),  # NIST's class code: 30..39 for the digits 0..9
    ("nist_index", -1),  # global index in NIST
    ("duplicate", -1),  # duplicate flag
    ("unused", 0),  # always 0 in QMNIST
)
QMNIST_WIDTH = 1 + len(QMNIST_COLUMNS)
#: The row of an item without QMNIST attributes.
QMNIST_ABSENT = [absent for _, absent in QMNIST_COLUMNS]


def qmnist_attributes(values: Sequence[int]) -> Dict[str, int]:
    """Label attributes from columns 1..7 of a row."""
    return {name: value for (name, absent), value in zip(QMNIST_COLUMNS, values) if value != absent}


def qmnist_values(attributes: Mapping, describe: Callable[[], str]) -> Optional[List[int]]:
    """Columns 1..7 of a row from Label attributes; None when the Label has no QMNIST attribute."""
    if not any(name in attributes for name, _ in QMNIST_COLUMNS):
        return None
    values = list(QMNIST_ABSENT)
    for column, (name, _) in enumerate(QMNIST_COLUMNS):
        if name in attributes:
            try:
                value = operator.index(attributes[name])
            except TypeError:
                value = None
            if value is None or not -(2**31) <= value < 2**31:
                raise DatasetExportError(
                    f"{describe()}: QMNIST label attribute {name}={attributes[name]!r} is not an int32 integer"
                )
            values[column] = value
    return values
