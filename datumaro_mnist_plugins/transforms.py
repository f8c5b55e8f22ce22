"""``gray_to_rgb``: a Datumaro transform giving grayscale images three equal channels.

Datumaro's ``cifar`` exporter (like other color formats) assumes H x W x 3 images and fails on MNIST's
H x W digits (``ValueError: axes don't match array``). Rather than patch another format, this transform
makes the data what such formats expect; it is registered with Datumaro like our formats, so::

    Dataset.import_from("mnist_dir", "mnist").transform("gray_to_rgb").export("out", "cifar", save_media=True)

Images stay lazy: the three channels are made when an exporter reads the pixels. Color images pass
through untouched.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from datumaro.components.cli_plugin import CliPlugin
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image
from datumaro.components.transformer import ItemTransform


def gray_as_rgb(pixels: np.ndarray) -> np.ndarray:
    """An H x W (or H x W x 1) image as H x W x 3, every channel the same; others as they are."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    return pixels


class GrayToRgb(ItemTransform, CliPlugin):
    """Gives grayscale images three equal channels, for formats that expect color (cifar, ...).|n
    |n
    Datumaro's cifar exporter fails on MNIST's one-channel images; the pipeline that works:|n
    |n
    |s|sDataset.import_from(src, "mnist").transform("gray_to_rgb").export(dst, "cifar", save_media=True)
    """

    NAME = "gray_to_rgb"

    def transform_item(self, item: DatasetItem) -> Optional[DatasetItem]:
        media = item.media
        if not isinstance(media, Image) or not media.has_data:
            return item
        size = media.size if media.has_size else None
        # the file extension too: a format that writes image files keeps a .png a .png (not its lossy default)
        rgb = Image.from_numpy(data=lambda: gray_as_rgb(media.data), size=size, ext=media.ext or None)
        return item.wrap(media=rgb)
