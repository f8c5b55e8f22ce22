"""Streaming one raw IDX file of N digits with ``StreamDataset``: items per second and peak RSS.

    python benchmarks/stream_bench.py [--count 1000000] [--dir /tmp/stream-bench]

Every image is read, and the CPU time is given too (a shared machine's wall time varies) (one pixel touched, as benchmarks/run.py's streaming row does). Run it on two
checkouts to compare; the peak is the process's ru_maxrss (the whole interpreter, Datumaro included).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import resource
import time

import numpy as np


def write_files(folder: str, count: int) -> None:
    from datumaro_mnist_plugins.codecs import idx

    os.makedirs(folder, exist_ok=True)
    images = (np.arange(10_000 * 784) % 251).astype(np.uint8).reshape(10_000, 28, 28)
    with open(osp.join(folder, "train-images-idx3-ubyte"), "wb") as f:
        f.write(idx.header_bytes(np.uint8, (count, 28, 28)))
        for start in range(0, count, len(images)):
            f.write(images[: min(len(images), count - start)].tobytes())
    idx.write_idx(osp.join(folder, "train-labels-idx1-ubyte"), (np.arange(count) % 10).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--dir", default="/tmp/stream-bench")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if not osp.isfile(osp.join(args.dir, "train-labels-idx1-ubyte")):
        write_files(args.dir, args.count)
    from datumaro.components.dataset import StreamDataset

    times, cpu = [], []
    for _ in range(args.reps):
        start, cpu_start = time.perf_counter(), time.process_time()
        count = 0
        for item in StreamDataset.import_from(args.dir, "mnist"):
            item.media.data[0, 0]
            count += 1
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
        assert count == args.count, count
    best = min(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count:,} items: best {best:.2f} s ({count / best:,.0f} items/s), runs {', '.join(f'{t:.2f}' for t in times)}; "
          f"CPU best {min(cpu):.2f} s; peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
