"""Contact sheets: a labeled grid of N samples per class, for any dataset Datumaro can import.

    python -m datumaro_mnist_plugins preview -i PATH [-if FORMAT] -o sheet.png [--per-class N]
"""

from __future__ import annotations

import argparse
from typing import Dict, List, Optional, Sequence

import numpy as np

#: Pixels between cells, and the width of the class-name column.
_GAP = 2
_NAME_WIDTH = 90
#: The largest sheet drawn (one byte a pixel): 64 MiB.
MAX_SHEET_PIXELS = 64 << 20


def collect_samples(dataset, per_class: int) -> Dict[int, List[np.ndarray]]:
    """The first *per_class* grayscale images of each class, in dataset order (stops early when full)."""
    from .export import gray_pixels
    from .labels import label_names_of

    label_count = len(label_names_of(dataset))  # a dataset without label categories has no classes
    samples: Dict[int, List[np.ndarray]] = {label: [] for label in range(label_count)}
    missing = label_count
    for item in dataset:
        labels = [a.label for a in item.annotations if a.type == _label_type()]
        if not labels or item.media is None or not item.media.has_data:
            continue
        bucket = samples.get(labels[0])
        if bucket is None or len(bucket) >= per_class:
            continue
        bucket.append(gray_pixels(item, lambda: f"item '{item.id}' of subset '{item.subset}'"))
        if len(bucket) == per_class:
            missing -= 1
            if not missing:
                break
    return samples


def _label_type():
    from datumaro.components.annotation import AnnotationType

    return AnnotationType.label


def contact_sheet(samples: Dict[int, List[np.ndarray]], names: Sequence[str], per_class: int, scale: int = 2):
    """A Pillow image: one row per class, its name on the left, its samples scaled up *scale* times."""
    from PIL import Image, ImageDraw

    side = max((max(s.shape) for bucket in samples.values() for s in bucket), default=28)
    rows = [label for label in sorted(samples) if samples[label]]
    width, height = sheet_size(side, scale, per_class, len(rows))
    cell = side * scale
    sheet = Image.new("L", (width, height), 40)
    draw = ImageDraw.Draw(sheet)
    for row, label in enumerate(rows):
        top = _GAP + row * (cell + _GAP)
        draw.text((6, top + cell // 2 - 6), str(names[label])[:14], fill=255)
        for column, pixels in enumerate(samples[label]):
            tile = Image.fromarray(pixels, mode="L")
            tile = tile.resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
            sheet.paste(tile, (_NAME_WIDTH + _GAP + column * (cell + _GAP), top))
    return sheet


def sheet_size(side: int, scale: int, per_class: int, rows: int) -> tuple:
    """(width, height) of a sheet of *rows* classes of *per_class* images *side* pixels wide, *scale* times;
    a DatumaroError if that is over MAX_SHEET_PIXELS (checked before anything is allocated)."""
    from datumaro.components.errors import DatumaroError

    cell = side * scale
    width = _NAME_WIDTH + per_class * (cell + _GAP) + _GAP
    height = max(rows, 1) * (cell + _GAP) + _GAP
    if width * height > MAX_SHEET_PIXELS:
        raise DatumaroError(
            f"a contact sheet of {width}x{height} pixels ({per_class} per class, images of {side} pixels "
            f"scaled {scale} times) is over the {MAX_SHEET_PIXELS} pixels allowed; lower --scale or --per-class"
        )
    return width, height


def preview(path: str, output: str, *, format: Optional[str] = None, per_class: int = 10, scale: int = 2) -> str:
    """Write a contact sheet of the dataset at *path* to *output* (any Pillow format, by extension)."""
    import datumaro as dm

    sheet_size(1, scale, per_class, 1)  # too large even for 1-pixel images: fail before importing
    dataset = dm.Dataset.import_from(path, format) if format else dm.Dataset.import_from(path)
    from .labels import label_names_of

    names = label_names_of(dataset)
    contact_sheet(collect_samples(dataset, per_class), names, per_class, scale).save(output)
    return output


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datumaro_mnist_plugins", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sheet = commands.add_parser("preview", help="write a labeled contact sheet of a dataset")
    sheet.add_argument("-i", "--input", required=True, help="dataset path (folder or recipe file)")
    sheet.add_argument("-if", "--input-format", help="Datumaro format name (default: detect)")
    sheet.add_argument("-o", "--output", required=True, help="image file to write, e.g. sheet.png")
    sheet.add_argument("--per-class", type=int, default=10, help="samples per class (default: %(default)s)")
    sheet.add_argument("--scale", type=int, default=2, help="pixel magnification (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.per_class < 1 or args.scale < 1:
        parser.error("--per-class and --scale must be at least 1")

    from datumaro.components.errors import DatumaroError

    try:
        preview(args.input, args.output, format=args.input_format, per_class=args.per_class, scale=args.scale)
    except (DatumaroError, OSError, ValueError) as e:
        print(f"error: {e}", file=__import__("sys").stderr)
        return 1
    print(args.output)
    return 0
