"""The sidecar: the item ids and image sizes that MNIST's data files cannot hold, and its row layouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from datumaro.components.errors import DatasetImportError

from .items import check_item_id


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

    def sidecar(self, has_images: bool) -> Sidecar:
        ids = self.ids if any(i != str(n) for n, i in enumerate(self.ids)) else None
        sizes = self.sizes if has_images and self.uniform_size is None else None
        return Sidecar(ids=ids, sizes=sizes)
