"""Where the time goes: a pyinstrument profile of one benchmark case, on the same inputs as run.py.

    pip install pyinstrument                  # a profiler: not a dependency of the package
    python benchmarks/profile.py mnist-import  # or mnist-export, csv-import, csv-export, stream
    python benchmarks/profile.py mnist-export --builtin --items 2000

Prints the call tree (time per call path; ``--interval`` sets the sampling period). The inputs are
built in a temporary folder, as by run.py, and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os.path as osp
import shutil
import sys
import tempfile


sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import run  # noqa: E402  the benchmark's input builders and the built-in's environment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=["mnist-import", "mnist-export", "csv-import", "csv-export", "stream"])
    parser.add_argument("--items", type=int, default=70_000, help="items (streamed: 1,000,000 by default)")
    parser.add_argument("--builtin", action="store_true", help="profile Datumaro's built-in format instead")
    parser.add_argument("--interval", type=float, default=0.001, help="sampling period in seconds")
    parser.add_argument("--all", action="store_true", help="show library frames too (Datumaro's, numpy's)")
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        parser.error("pyinstrument is not installed: pip install pyinstrument")

    from datumaro.components.dataset import Dataset, StreamDataset

    data = args.data or (run.DEFAULT_DATA if osp.isdir(run.DEFAULT_DATA) else run.SAMPLE_DATA)
    images, labels = run.load_digits(data)
    fmt = "mnist_csv" if args.case.startswith("csv") else "mnist"
    env = run.builtin_environment(fmt) if args.builtin else run.our_environment(fmt)
    tmp = tempfile.mkdtemp(prefix="mnist-profile-")
    try:
        train = args.items * 6 // 7
        split = {"train": (run.tiled(images, train), run.tiled(labels, train)),
                 "t10k": (run.tiled(images, args.items - train), run.tiled(labels, args.items - train))}
        folder = osp.join(tmp, "in")
        if args.case == "stream":
            count = args.items if args.items != 70_000 else 1_000_000
            run.write_raw_images(folder, images, labels, count)
        elif args.case == "csv-import":
            run.write_csv(folder, {"train": split["train"], "test": split["t10k"]})
        else:
            run.write_mnist(folder, split)
        dataset = None
        if args.case.endswith("export"):
            dataset = Dataset.import_from(folder, "mnist", env=env if fmt == "mnist" else run.our_environment("mnist"))
            dataset.init_cache()

        profiler = Profiler(interval=args.interval)
        profiler.start()
        if args.case == "stream":
            for item in StreamDataset.import_from(folder, "mnist", env=env):
                run.touch(item)
        elif args.case.endswith("import"):
            for item in Dataset.import_from(folder, fmt, env=env):
                run.touch(item)
        elif args.builtin:
            exporter = run.builtin_classes(fmt)[run.BUILTIN_CLASSES[fmt][1][2]]
            exporter.convert(dataset, save_dir=osp.join(tmp, "out"), save_media=True)
        else:
            dataset.export(osp.join(tmp, "out"), fmt, save_media=True)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=args.all))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
