"""Time and memory of each hostile recipe in tests/synthetic/test_recipe_bounds.py: a clear error, fast and small.

Each case runs in a fresh process: peak RSS after importing Datumaro and the plugins (the footprint),
then after loading the recipe; prints the wall time of the load, the RSS growth and the error.

    python benchmarks/hostile_recipes.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

_CHILD = r"""
import resource, sys, time
import datumaro as dm
from datumaro_mnist_plugins.mnist_synthetic import load_recipe
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_recipe(sys.argv[1]); outcome = "LOADED"
except Exception as e:
    outcome = type(e).__name__ + ": " + str(e).splitlines()[0][-90:]
elapsed = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(f"{elapsed:7.3f} s {grown / 1024:7.1f} MB  {outcome}")
"""


def main() -> int:
    from tests.synthetic.test_recipe_bounds import HOSTILE

    print(f"{'case':40} {'time':>9} {'RSS+':>10}  outcome")
    worst = 0.0
    with tempfile.TemporaryDirectory() as root:
        for number, (name, (file_name, text, _)) in enumerate(HOSTILE.items()):
            folder = os.path.join(root, str(number))
            os.mkdir(folder)
            path = os.path.join(folder, file_name)
            with open(path, "w") as f:
                f.write(text)
            out = subprocess.run([sys.executable, "-c", _CHILD, path], capture_output=True, text=True, timeout=300)
            line = out.stdout.strip() or out.stderr.strip().splitlines()[-1]
            worst = max(worst, float(line.split()[0]) if out.stdout else float("inf"))
            print(f"{name:40} {line}")
    print(json.dumps({"worst_seconds": worst}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
