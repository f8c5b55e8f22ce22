"""Exports for training: where the ``mnist`` exporter puts its IDX files, and how subsets and labels map.

- ``--compression none|gz|xz|bz2`` (``mnist``): how the IDX files are stored (default ``gz``).
- ``--layout torchvision --torchvision-class MNIST|FashionMNIST|KMNIST|EMNIST|QMNIST [--emnist-split S]``
  (``mnist``): ``<save_dir>/<ClassName>/raw/<the exact raw names>`` that ``torchvision.datasets.<ClassName>``
  opens without downloading or extracting anything (``TORCHVISION_CLASSES`` says which names, from
  torchvision's ``datasets/mnist.py``).
- ``--subset-map SRC:DST`` (``mnist``, ``mnist_csv``): rename subsets before writing, with Datumaro's own
  ``map_subsets`` transform: ``default:train`` gives the ``train-*`` names every MNIST reader looks for.
- ``--label-values names`` (``mnist``, ``mnist_csv``): write a class named ``"7"`` as the label value 7,
  with Datumaro's ``project_labels`` onto the names ``"0".."N"``, so an image folder of classes ``3`` and
  ``7`` keeps its digits instead of becoming 0 and 1.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Union

import numpy as np

from datumaro.components.errors import DatasetExportError
from datumaro.plugins.transforms import MapSubsets, ProjectLabels

from . import family
from .codecs import idx
from .labels import NO_LABEL, label_names_of
from .sidecar import SidecarCollector

log = logging.getLogger(__name__)

#: --compression choice -> IDX file suffix (``idx.open_binary`` compresses by suffix).
COMPRESSIONS: Dict[str, str] = {"none": "", **{suffix[1:]: suffix for suffix in idx.OPENERS}}
DEFAULT_COMPRESSION = "gz"
LAYOUTS = ("flat", "torchvision")
#: What torchvision's ``MNIST.raw_folder`` appends to ``<root>/<ClassName>``.
TORCHVISION_RAW = "raw"


@dataclass(frozen=True)
class TorchvisionClass:
    """What one ``torchvision.datasets`` class reads from ``<root>/<ClassName>/raw/``."""

    #: our subset -> file prefix (``{split}``: the EMNIST split); the rest of a name is the IDX kind.
    prefixes: Mapping[str, str]
    #: subsets whose files ``_check_exists`` requires whichever subset is asked for.
    required: FrozenSet[str]
    #: EMNIST's files hold every image transposed (torchvision reads them as stored).
    transposed: bool = False
    #: QMNIST reads ``-labels-idx2-int`` (N x 8 int32) instead of ``-labels-idx1-ubyte``.
    extended_labels: bool = False


_MNIST_PREFIXES = {"train": "train", "test": family.TEST_PREFIX}
#: From torchvision/datasets/mnist.py: MNIST._check_exists wants all four raw files of ``resources``
#: (train-*, t10k-*) for train=True and False alike; FashionMNIST and KMNIST inherit it.
#: EMNIST._check_exists wants ``emnist-<split>-<train|test>-images-idx3-ubyte`` and ``-labels-idx1-ubyte``
#: (``_file_prefix``) of the one asked for; QMNIST's wants the raw names of ``resources[subsets[what]]``.
TORCHVISION_CLASSES: Dict[str, TorchvisionClass] = {
    "MNIST": TorchvisionClass(_MNIST_PREFIXES, frozenset(_MNIST_PREFIXES)),
    "FashionMNIST": TorchvisionClass(_MNIST_PREFIXES, frozenset(_MNIST_PREFIXES)),
    "KMNIST": TorchvisionClass(_MNIST_PREFIXES, frozenset(_MNIST_PREFIXES)),
    "EMNIST": TorchvisionClass(
        {"train": "emnist-{split}-train", "test": "emnist-{split}-test"}, frozenset(), transposed=True
    ),
    "QMNIST": TorchvisionClass(
        {"train": "qmnist-train", "test": "qmnist-test", "nist": "xnist"}, frozenset(), extended_labels=True
    ),
}


@dataclass(frozen=True)
class Layout:
    """Where and how one export writes its IDX files."""

    #: the folder below the export folder ("" for the flat layout)
    folder: str = ""
    suffix: str = ".gz"
    #: subset -> file prefix; None: the format's own rule (``mnist.prefix_of``)
    prefixes: Optional[Mapping[str, str]] = None
    transposed: bool = False
    extended_labels: bool = False
    #: torchvision reads one image of one size and one class per item: nothing may be missing
    complete_items_of: Optional[str] = None


def flat_layout(compression: Optional[str]) -> Layout:
    return Layout(suffix=COMPRESSIONS[_checked_compression(compression or DEFAULT_COMPRESSION)])


def check_layout_options(compress_level: int, layout: str) -> None:
    """The ``mnist`` exporter's options, checked when it is made (as the CLI's choices would)."""
    if compress_level not in range(10):
        raise DatasetExportError(f"compress_level must be 0..9, not {compress_level}")
    if layout not in LAYOUTS:
        raise DatasetExportError(f"--layout '{layout}' is not one of {', '.join(LAYOUTS)}")


def chosen_layout(
    layout: str, compression: Optional[str], class_name: str, split: Optional[str], extractor, save_media: bool
) -> Layout:
    """The layout an export of *extractor* (subsets renamed, classes final) writes."""
    if layout != "torchvision":
        return flat_layout(compression)
    if not save_media:
        raise DatasetExportError("--layout torchvision writes the images torchvision reads: add --save-media")
    chosen = torchvision_layout(class_name, split, compression, extractor.subsets())
    warn_about_class_names(class_name, split, label_names_of(extractor))
    return chosen


def torchvision_layout(
    class_name: str, split: Optional[str], compression: Optional[str], subsets: Iterable[str]
) -> Layout:
    """The layout ``torchvision.datasets.<class_name>(root)`` opens, or a clear error saying why not."""
    target = TORCHVISION_CLASSES.get(class_name)
    if target is None:
        raise DatasetExportError(
            f"--torchvision-class '{class_name}' is not one of {', '.join(TORCHVISION_CLASSES)}"
        )
    if compression not in (None, "none"):
        raise DatasetExportError(
            f"--layout torchvision writes the raw files torchvision reads; --compression {compression} would "
            "make it download them again (drop --compression or use --compression none)"
        )
    _check_split(class_name, split)
    subsets = sorted(subsets)
    unknown = [s for s in subsets if s not in target.prefixes]
    missing = sorted(target.required - set(subsets))
    if unknown or missing or not subsets:
        have = ", ".join(f"'{s}'" for s in subsets) or "none"
        needs = " and finds nothing unless all are there" if target.required else ""
        hint = f" (rename with --subset-map SRC:DST, e.g. --subset-map {unknown[0]}:train)" if unknown else ""
        if missing and not unknown:
            hint = f" (missing {', '.join(missing)}: split one, e.g. with datum transform -t random_split)"
        raise DatasetExportError(
            f"torchvision's {class_name} reads the subsets {', '.join(target.prefixes)}{needs}; "
            f"this dataset's subsets: {have}{hint}"
        )
    return Layout(
        folder=f"{class_name}/{TORCHVISION_RAW}",
        suffix="",
        prefixes={s: p.format(split=split) for s, p in target.prefixes.items()},
        transposed=target.transposed,
        extended_labels=target.extended_labels,
        complete_items_of=class_name,
    )


#: The classes each torchvision class stands for, as our importer names them (``family``'s tables).
_CLASS_NAMES = {
    "MNIST": family.DIGITS,
    "QMNIST": family.DIGITS,
    "FashionMNIST": family.FASHION,
    "KMNIST": family.KMNIST,
}


def warn_about_class_names(class_name: str, split: Optional[str], names: List[str]) -> None:
    """torchvision names targets by its own class list: say so when ours mean other classes."""
    expected = family.EMNIST.get(split or "", []) if class_name == "EMNIST" else _CLASS_NAMES[class_name]
    if names != list(expected[: len(names)]):
        log.warning(
            "exporting for torchvision's %s: label values are class indices, which it names %s; this dataset's "
            "classes are %s (see --label-values names, or datum transform -t project_labels)",
            class_name, _preview(expected), _preview(names),
        )


def _preview(names: List[str]) -> str:
    return "[" + ", ".join(names[:6]) + (", ...]" if len(names) > 6 else "]")


def _checked_compression(compression: str) -> str:
    if compression not in COMPRESSIONS:
        raise DatasetExportError(f"--compression '{compression}' is not one of {', '.join(COMPRESSIONS)}")
    return compression


def _check_split(class_name: str, split: Optional[str]) -> None:
    if class_name == "EMNIST" and split not in family.EMNIST:
        raise DatasetExportError(
            f"torchvision's EMNIST needs --emnist-split, one of {', '.join(family.EMNIST)} (got {split!r})"
        )
    if class_name != "EMNIST" and split is not None:
        raise DatasetExportError(f"--emnist-split is for --torchvision-class EMNIST, not {class_name}")


def check_complete(layout: Layout, subset: str, labels: np.ndarray, collector: SidecarCollector) -> None:
    """Every item has an image, all of one size, and a class: what torchvision's readers assume."""
    if layout.complete_items_of is None or not len(labels):
        return
    reader = f"torchvision's {layout.complete_items_of}"
    no_image = next((i for i, size in enumerate(collector.sizes) if size == (0, 0)), None)
    if no_image is not None:
        raise DatasetExportError(
            f"item '{collector.ids[no_image]}' of subset '{subset}' has no image; {reader} reads one per item "
            "(export with --save-media)"
        )
    if collector.uniform_size is None:
        sizes = sorted({f"{h}x{w}" for h, w in collector.sizes})
        shown = ", ".join(sizes[:3]) + (", ..." if len(sizes) > 3 else "")
        raise DatasetExportError(
            f"subset '{subset}' holds images of {len(sizes)} sizes ({shown}); "
            f"{reader} reads one N x H x W array (resize them first, e.g. datum transform -t resize)"
        )
    unlabeled = np.flatnonzero(labels == NO_LABEL)
    if unlabeled.size:
        raise DatasetExportError(
            f"item '{collector.ids[unlabeled[0]]}' of subset '{subset}' has no label; {reader} would read "
            f"{NO_LABEL} as its class ({unlabeled.size} such items)"
        )


# --- subsets and label values, for both file formats -----------------------------------------------------

SubsetMap = Union[Mapping[str, str], Iterable]


def subset_mapping(mapping: Optional[SubsetMap]) -> Dict[str, str]:
    """``{"default": "train"}`` from a dict, ``("default", "train")`` pairs or ``"default:train"`` strings."""
    result: Dict[str, str] = {}
    for entry in (mapping.items() if isinstance(mapping, Mapping) else mapping or ()):
        pair = entry.split(":") if isinstance(entry, str) else list(entry)
        if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
            raise DatasetExportError(f"--subset-map {entry!r}: expected SRC:DST, two subset names")
        result[pair[0]] = pair[1]
    return result


def _mapping_arg(text: str) -> List[str]:
    pair = text.split(":")
    if len(pair) != 2 or not all(pair):
        raise argparse.ArgumentTypeError(f"expected SRC:DST, got {text!r}")
    return pair


LABEL_VALUES = ("index", "names")


def training_view(extractor, subset_map: Optional[SubsetMap], label_values: str):
    """*extractor* with its subsets renamed and, for ``names``, its classes at the values they name."""
    if label_values not in LABEL_VALUES:
        raise DatasetExportError(f"--label-values '{label_values}' is not one of {', '.join(LABEL_VALUES)}")
    mapping = subset_mapping(subset_map)
    if mapping:
        _check_merged_ids(extractor, mapping)
        extractor = MapSubsets(extractor, mapping)
    if label_values == "names":
        extractor = _digit_valued(extractor)
    return extractor


def _check_merged_ids(extractor, mapping: Dict[str, str]) -> None:
    """Subsets mapped onto one must not share an item id: the merged subset could not be read back."""
    sources: Dict[str, List[str]] = {}
    for subset in extractor.subsets():
        sources.setdefault(mapping.get(subset, subset), []).append(subset)
    merged = {s: dst for dst, group in sources.items() if len(group) > 1 for s in group}
    if not merged:
        return  # the common case: nothing to read twice
    seen: Dict[tuple, str] = {}
    for item in extractor:
        if item.subset in merged:
            key = (merged[item.subset], item.id)
            if key in seen and seen[key] != item.subset:
                raise DatasetExportError(
                    f"--subset-map puts item '{item.id}' of subsets '{seen[key]}' and '{item.subset}' both into "
                    f"'{key[0]}'; ids must be unique in a subset (rename them first, e.g. datum transform -t rename)"
                )
            seen[key] = item.subset


def _digit_valued(extractor):
    names = label_names_of(extractor)
    bad = [n for n in names if not (n.isascii() and n.isdigit() and str(int(n)) == n and int(n) < NO_LABEL)]
    if bad:
        raise DatasetExportError(
            f"--label-values names writes each class as the number its name spells, 0..{NO_LABEL - 1} written "
            f"plainly ('7', not '07'); these class names are not: {', '.join(repr(n) for n in bad[:5])}"
        )
    if not names:
        return extractor
    return ProjectLabels(extractor, [str(value) for value in range(max(int(n) for n in names) + 1)])


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options every digits exporter takes (see the module docstring)."""
    parser.add_argument(
        "--subset-map",
        action="append",
        type=_mapping_arg,
        metavar="SRC:DST",
        help="rename a subset before export (repeatable), e.g. default:train",
    )
    parser.add_argument(
        "--label-values",
        choices=LABEL_VALUES,
        default="index",
        help="label value written per item: the class index (default) or, for classes named by "
        f"integers 0..{NO_LABEL - 1}, that integer",
    )


def add_layout_options(parser: argparse.ArgumentParser, default_compress_level: int) -> None:
    """The ``mnist`` exporter's options for file compression and the torchvision layout."""
    parser.add_argument(
        "--compress-level",
        type=int,
        choices=range(10),
        default=default_compress_level,
        metavar="0-9",
        help="compression level of the IDX files (default: %(default)s)",
    )
    parser.add_argument(
        "--compression",
        choices=list(COMPRESSIONS),
        default=None,
        help=f"how IDX files are stored (default: {DEFAULT_COMPRESSION}; none with --layout torchvision)",
    )
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="flat", help="flat files (default) or <ClassName>/raw/ for torchvision"
    )
    parser.add_argument(
        "--torchvision-class",
        choices=list(TORCHVISION_CLASSES),
        default="MNIST",
        help="with --layout torchvision: the torchvision.datasets class to read the export (default: %(default)s)",
    )
    parser.add_argument("--emnist-split", choices=list(family.EMNIST), help="with --torchvision-class EMNIST")
