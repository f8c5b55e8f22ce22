"""How fast ``mnist_synthetic`` makes digits, against issue 13's goals (every figure from one command).

    python benchmarks/generation.py             # 20,000 digits through import_from, the main job 3 times
    python benchmarks/generation.py --quick     # 5,000 digits, the main job once (default workers only)

Rows, each in a fresh Python process (a pool is started and stopped as a user's would be), median
of ``--reps`` runs:

* the drawing alone, as a worker draws (``render_items`` a block at a time, one core, CPU time):
  microseconds a digit, and the rate two such cores would give;
* ``Dataset.import_from(recipe)`` and every image read, ``workers=1`` and the default (every CPU);
* the README's main job, ``datum convert -if mnist_synthetic -i assets/recipes/mnist.yaml -f mnist
  -o ... -- --save-media`` (70,000 digits, process start to exit), as a subprocess,
  ``MNIST_SYNTHETIC_WORKERS=1`` and the default; both outputs must be byte-identical.

Goals (issue 13): >= 9,000 digits/s through import_from and datum convert on a 2-core machine, the
main job in <= 6 s of wall time. Wall times on a shared machine vary with its load: the load average
is printed with the figures, and CPU seconds (the process and its workers) show the work done
whatever the load. Timings belong here, never in unit tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
MAIN_RECIPE = osp.join(REPO, "assets", "recipes", "mnist.yaml")
DATUM = osp.join(osp.dirname(sys.executable), "datum")
WORKERS_ENV = "MNIST_SYNTHETIC_WORKERS"

CHILD = """
import json, resource, sys, time
from datumaro.components.dataset import Dataset
from datumaro_mnist_plugins.synthetic.strokes import DigitStyle
case, recipe, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def used():
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
start, cpu_start = time.perf_counter(), used()
if case == "render":
    from datumaro_mnist_plugins.synthetic.parallel import _BLOCK_BYTES, keep_freed_memory, render_items
    keep_freed_memory()  # as a worker does
    style, block = DigitStyle(), _BLOCK_BYTES // 28**2
    for first in range(0, count, block):
        indices = range(first, min(first + block, count))
        render_items(0, style, "train", indices, [i % 10 for i in indices])
else:
    dataset = Dataset.import_from(recipe, "mnist_synthetic")
    for item in dataset:
        item.media.data
    del dataset, item  # stops the workers, so that their CPU time is counted below
wall = time.perf_counter() - start
import gc, multiprocessing; gc.collect(); [p.join() for p in multiprocessing.active_children()]
print(json.dumps({"wall": wall, "cpu": used() - cpu_start}))  # the work measured, not the imports
"""


def environment(workers: int | None) -> dict:
    env = dict(os.environ)
    env.pop(WORKERS_ENV, None)
    if workers is not None:
        env[WORKERS_ENV] = str(workers)
    return env


def in_python(case: str, recipe: str, count: int, workers: int | None, reps: int) -> dict:
    runs = []
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", CHILD, case, recipe, str(count)], env=environment(workers),
                             check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in ("wall", "cpu")}


def main_job(workers: int | None, reps: int, scratch: str) -> dict:
    walls, cpus, digest = [], [], None
    for rep in range(reps):
        out = osp.join(scratch, f"job-{workers}-{rep}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([DATUM, "convert", "-if", "mnist_synthetic", "-i", MAIN_RECIPE, "-f", "mnist", "-o", out,
                        "--", "--save-media"], env=environment(workers), check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        h = hashlib.sha256()
        for name in sorted(os.listdir(out)):
            with open(osp.join(out, name), "rb") as f:
                h.update(name.encode() + f.read())
        assert digest in (None, h.hexdigest()), "the main job's output changed between runs"
        digest = h.hexdigest()
    return {"wall": statistics.median(walls), "best": min(walls), "cpu": statistics.median(cpus), "digest": digest}


GOAL_RATE, GOAL_JOB, JOB_DIGITS = 9000, 6.0, 70000


def verdict(ok: bool) -> str:
    return "meets the goal" if ok else "short of the goal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=None)
    args = parser.parse_args()
    count = 5000 if args.quick else 20000
    reps = args.reps or (1 if args.quick else 3)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cpus} CPUs, load average {os.getloadavg()[0]:.1f} at the start; median of {reps} run(s)")

    with tempfile.TemporaryDirectory(prefix="generation-bench-") as scratch:
        recipe = osp.join(scratch, "recipe.json")
        with open(recipe, "w") as f:
            json.dump({"seed": 0, "subsets": {"train": count}}, f)
        floor = in_python("render", recipe, count, 1, reps)
        per_digit = floor["cpu"] / count * 1e6
        print(f"drawing alone, one core (as a worker): {per_digit:6.0f} us a digit (CPU time) = "
              f"{1e6 / per_digit:,.0f} digits/s; two such cores: {2e6 / per_digit:,.0f} digits/s")
        one = in_python("import", recipe, count, 1, reps)
        every = in_python("import", recipe, count, None, reps)
        for name, r in (("workers=1", one), (f"default ({cpus})", every)):
            print(f"import_from + images, {name:13} {count / r['wall']:8,.0f} digits/s  "
                  f"({r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU)")
        print(f"  ratio default / one worker:        {one['wall'] / every['wall']:8.2f}x")

        job_every = main_job(None, reps, scratch)
        job_one = None if args.quick else main_job(1, reps, scratch)
        for name, r in (("workers=1", job_one), (f"default ({cpus})", job_every)):
            if r is not None:
                print(f"main job (datum convert, 70,000), {name:13} {r['wall']:6.2f} s wall (best {r['best']:.2f}), "
                      f"{r['cpu']:.2f} s CPU, {JOB_DIGITS / r['wall']:,.0f} digits/s")
        if job_one is not None:
            print(f"  ratio default / one worker:        {job_one['wall'] / job_every['wall']:8.2f}x; "
                  f"outputs byte-identical: {job_one['digest'] == job_every['digest']}")
    rate = count / every["wall"]
    print(f"goal >= {GOAL_RATE:,} digits/s, import_from (default): {rate:8,.0f}  {verdict(rate >= GOAL_RATE)}")
    rate = JOB_DIGITS / job_every["wall"]
    print(f"goal >= {GOAL_RATE:,} digits/s, datum convert (default): {rate:6,.0f}  {verdict(rate >= GOAL_RATE)}")
    print(f"goal main job <= {GOAL_JOB:.0f} s wall (default):     {job_every['wall']:6.2f} s "
          f"{verdict(job_every['wall'] <= GOAL_JOB)}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (2 = two busy cores: figures above are then not idle ones)")


if __name__ == "__main__":
    main()
