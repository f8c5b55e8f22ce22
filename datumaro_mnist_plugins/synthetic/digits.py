"""The items of a recipe: each one's label, which items a subset keeps, and their lazy images.

Item *i* of subset *s* is drawn from (seed, s, i) alone, so items are made lazily, in any order,
byte-identical every time. Labels are drawn in blocks, images by a :class:`.parallel.BlockRenderer`.
"""

from __future__ import annotations

import zlib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import ImageFromNumpy

from ..items import make_item, new_image
from .index_runs import IndexRuns
from .parallel import BlockRenderer
from .recipe import Recipe

#: Labels are drawn in blocks of this many items, each block from its own stream: random access
#: costs one block, and memory does not grow with the subset.
_LABEL_BLOCK = 4096


class GeneratedPixels:
    """The pixels of one generated item, drawn when called, and where they come from."""

    __slots__ = ("digits", "subset", "index")

    def __init__(self, digits: "SyntheticDigits", subset: str, index: int):
        self.digits, self.subset, self.index = digits, subset, index

    def __call__(self) -> np.ndarray:
        return self.digits.image(self.subset, self.index)


class GeneratedImage(ImageFromNumpy):
    """A generated item's lazy image, which says where it came from (:attr:`source`).

    The exporter asks it whether an item is still the recipe's (to write an exact recipe): our own
    public attribute, not Datumaro's private loader. A transform that changes pixels makes a new image,
    which is no GeneratedImage.
    """

    source: GeneratedPixels

    @classmethod
    def of(cls, source: GeneratedPixels, size: Tuple[int, int]) -> "GeneratedImage":
        # built by the fast constructor of ImageFromNumpy, then given this class (the same object
        # layout): a fifth of the cost of Datumaro's checking constructor, for every item generated
        image = new_image(source, size)
        image.__class__ = cls
        image.source = source
        return image


class SyntheticDigits:
    """The items a recipe describes, each made on demand from (seed, subset, index).

    Images are drawn by a :class:`BlockRenderer`: on *workers* processes (default: every CPU) ahead of a
    sequential reader, in-process for an isolated one; the pixels are the same either way.
    """

    def __init__(self, recipe: Recipe, workers: Optional[int] = None):
        self.recipe = recipe
        self._kept: Dict[str, Union[range, IndexRuns]] = {}
        self._renderer = BlockRenderer(recipe.seed, recipe.style, self.indices, self._digits_of, workers)
        self._size = (recipe.style.image_size,) * 2  # one tuple shared by every image
        self._cdfs = {
            name: np.cumsum(spec.proportions or recipe.proportions) / sum(spec.proportions or recipe.proportions)
            for name, spec in recipe.subsets.items()
        }
        self._label_block: Tuple[Optional[Tuple[str, int]], Optional[np.ndarray]] = (None, None)

    def _labels_of_block(self, subset: str, block: int) -> np.ndarray:
        key, labels = self._label_block
        if key != (subset, block):
            cdf = self._cdfs[subset]
            rng = np.random.default_rng([self.recipe.seed, zlib.crc32(subset.encode()), 1, block])
            labels = np.minimum(np.searchsorted(cdf, rng.random(_LABEL_BLOCK), side="right"), len(cdf) - 1)
            self._label_block = ((subset, block), labels)
        return labels

    def label(self, subset: str, index: int) -> int:
        """The class index (into ``recipe.classes``) of item *index*."""
        return int(self._labels_of_block(subset, index // _LABEL_BLOCK)[index % _LABEL_BLOCK])

    def labels(self, subset: str) -> np.ndarray:
        """Every item's class index, block by block (for filters; 8 bytes an item)."""
        count = self.recipe.subsets[subset].count
        blocks = [self._labels_of_block(subset, b) for b in range((count + _LABEL_BLOCK - 1) // _LABEL_BLOCK)]
        return np.concatenate(blocks)[:count] if blocks else np.zeros(0, np.int64)

    def indices(self, subset: str) -> Union[range, IndexRuns]:
        """The items of *subset* that the recipe keeps, in order (compact: never a list of ints)."""
        if subset not in self._kept:
            spec = self.recipe.subsets[subset]
            if spec.indices is not None:
                self._kept[subset] = spec.indices
            elif spec.keep_classes is not None:
                self._kept[subset] = IndexRuns.of(np.flatnonzero(np.isin(self.labels(subset), spec.keep_classes)))
            else:
                self._kept[subset] = range(spec.count)
        return self._kept[subset]

    def keeps(self, subset: str, index: int) -> bool:
        """Whether the recipe keeps item *index* (< the subset's count) of *subset*."""
        return index in self.indices(subset)

    def _digits_of(self, subset: str, indices: Sequence[int]) -> List[int]:
        """The digits drawn for *indices* (a block of kept items), label block by label block."""
        positions = np.asarray(indices, dtype=np.int64)
        blocks = positions // _LABEL_BLOCK
        labels = np.empty(len(positions), dtype=np.int64)
        for block in np.unique(blocks).tolist():
            here = blocks == block
            labels[here] = self._labels_of_block(subset, block)[positions[here] % _LABEL_BLOCK]
        return np.asarray(self.recipe.classes, dtype=np.int64)[labels].tolist()

    def image(self, subset: str, index: int) -> np.ndarray:
        return self._renderer.image(subset, index)

    def close(self) -> None:
        """Stop the drawing processes now (they also stop when this object is collected, or at exit)."""
        self._renderer.close()

    def item(self, subset: str, index: int) -> DatasetItem:
        image = GeneratedImage.of(GeneratedPixels(self, subset, index), self._size)
        return make_item(str(index), subset, self.label(subset, index), image)

