"""Streaming a raw IDX file keeps memory flat: images are read a batch at a time, never memory-mapped.

No timings here (they belong in benchmarks/run.py); the memory check reads the kernel's count of
file pages mapped into this process, which is exact, and runs only where that count exists (Linux).
"""

from __future__ import annotations

import os.path as osp
import sys

import numpy as np
import pytest

from datumaro.components.dataset import StreamDataset

from datumaro_mnist_plugins.codecs import idx


def write_raw_digits(folder, count: int) -> np.ndarray:
    images = (np.arange(count * 28 * 28, dtype=np.int64) % 251).astype(np.uint8).reshape(count, 28, 28)
    idx.write_idx(osp.join(folder, "train-images-idx3-ubyte"), images)
    idx.write_idx(osp.join(folder, "train-labels-idx1-ubyte"), (np.arange(count) % 10).astype(np.uint8))
    return images


def mapped_file_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


def test_streamed_items_kept_across_releases_keep_their_pixels(tmp_path):
    images = write_raw_digits(tmp_path, 2500)  # read in batches of 1024: at items 0, 1024 and 2048
    items = list(StreamDataset.import_from(str(tmp_path), "mnist"))
    assert len(items) == len(images)
    for i in (0, 1023, 1024, 2047, 2048, 2499):
        assert items[i].id == str(i) and np.array_equal(items[i].media.data, images[i])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_streaming_a_raw_file_does_not_keep_it_in_memory(tmp_path):
    count = 100_000  # a 78 MB file
    write_raw_digits(tmp_path, count)
    before = mapped_file_kib()
    seen = 0
    for item in StreamDataset.import_from(str(tmp_path), "mnist"):
        seen += int(item.media.data[-1, -1] >= 0)  # reads a pixel of every image, paging all of the file in
    grown_mb = (mapped_file_kib() - before) / 1024
    assert seen == count
    assert grown_mb < 20, f"{grown_mb:.0f} MB of the 78 MB file stayed mapped"
