"""The first ERROR line the `datum` CLI prints for bad input of ours names the file and says what is wrong.

Datumaro wraps import errors in "Failed to import dataset ..." and the CLI logs only that line, so these
tests read what a user reads: the first ``ERROR:`` line of `datum convert`. The cases run through
Datumaro's CLI entry point (what the `datum` script calls), several in one subprocess to pay Datumaro's
import once; one case also runs through the installed `datum` itself.
"""

from __future__ import annotations

import gzip
import json
import os.path as osp
import shutil
import struct
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest

from datumaro_mnist_plugins import error_lines

from .conftest import run_datum

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAMPLE = osp.join(REPO, "assets", "mnist-sample")
SEPARATOR = "=== case "


def write(path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def copy_sample(folder) -> None:
    shutil.copytree(SAMPLE, folder)


def idx_header(magic_type: int, dims: Tuple[int, ...]) -> bytes:
    return bytes((0, 0, magic_type, len(dims))) + struct.pack(f">{len(dims)}I", *dims)


#: name -> (make the input under tmp, `datum convert` arguments after `-i <input>`, words the first ERROR line holds)
CASES: Dict[str, Tuple] = {
    "recipe value": (
        lambda d: write(d / "bad.yaml", b"seed: 0\nstyle: {slant: [50, 10]}\n"),
        "bad.yaml", ["-if", "mnist_synthetic", "-f", "mnist"], ["bad.yaml", "'style.slant'", "(50, 10)", "not allowed"],
    ),
    "recipe key": (
        lambda d: write(d / "bad.yaml", b"seed: 0\nstlye: {}\n"),
        "bad.yaml", ["-if", "mnist_synthetic", "-f", "mnist"], ["bad.yaml", "stlye"],
    ),
    "IDX header": (
        lambda d: (d / "idx").mkdir() or write(d / "idx" / "t10k-images-idx3-ubyte", idx_header(8, (5, 28, 28, 1, 1, 1, 1, 1, 1))[:12]),
        "idx", ["-if", "mnist", "-f", "mnist_csv"], ["t10k-images-idx3-ubyte", "header"],
    ),
    "IDX payload": (
        lambda d: (d / "idx").mkdir() or write(d / "idx" / "t10k-images-idx3-ubyte", idx_header(8, (5, 28, 28)) + b"xx"),
        "idx", ["-if", "mnist", "-f", "mnist_csv"], ["t10k-images-idx3-ubyte", "truncated"],
    ),
    "CSV row length": (
        lambda d: (d / "csv").mkdir() or write(d / "csv" / "mnist_test.csv", b"7,0,0,0\n"),
        "csv", ["-if", "mnist_csv", "-f", "mnist"], ["mnist_test.csv", "line 1", "4 values"],
    ),
    "CSV value": (
        lambda d: (d / "csv").mkdir() or write(d / "csv" / "mnist_test.csv", b"7" + b",0" * 784 + b"\n3,0,x" + b",0" * 782 + b"\n"),
        "csv", ["-if", "mnist_csv", "-f", "mnist"], ["mnist_test.csv", "line 2"],
    ),
    "labels file": (
        lambda d: copy_sample(d / "ds") or write(d / "ds" / "labels.txt", b"\xff\xfe0\n"),
        "ds", ["-if", "mnist", "-f", "mnist_csv"], ["labels.txt", "UTF-8"],
    ),
    "meta file": (
        lambda d: copy_sample(d / "ds") or write(d / "ds" / "dataset_meta.json", b'{"labels": [1, 2]}'),
        "ds", ["-if", "mnist", "-f", "mnist_csv"], ["dataset_meta.json", "'labels'"],
    ),
    "gzip": (
        lambda d: copy_sample(d / "ds") or write(d / "ds" / "t10k-labels-idx1-ubyte.gz", gzip.compress(idx_header(8, (100,)) + bytes(100))[:20]),
        "ds", ["-if", "mnist", "-f", "mnist_csv"], ["t10k-labels-idx1-ubyte.gz"],
    ),
    "export option": (
        copy_sample, "", ["-if", "mnist", "-f", "mnist", "--", "--save-media", "--image-ext", ".xyz"], ["'.xyz'", "Pillow"],
    ),
    "export to a recipe": (
        lambda d: shutil.copytree(osp.join(REPO, "assets", "samples", "fashion"), d / "fashion"),
        "fashion", ["-if", "mnist", "-f", "mnist_synthetic"], ["digits"],
    ),
}

DRIVER = f"""
import sys, json
from datumaro.cli.__main__ import main
for i, args in enumerate(json.loads(sys.argv[1])):
    print({SEPARATOR!r} + str(i), file=sys.stderr, flush=True)
    try:
        main(args)
    except BaseException as e:
        print("raised", type(e).__name__, file=sys.stderr, flush=True)
"""


def first_error_line(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if "ERROR:" in line), "")


@pytest.fixture(scope="module")
def error_lines_by_case(tmp_path_factory) -> Dict[str, str]:
    runs: List[List[str]] = []
    for i, (name, (make, source, args, _)) in enumerate(CASES.items()):
        folder = tmp_path_factory.mktemp(f"case{i}")
        make(folder / "in" if source == "" else folder)
        source_path = folder / ("in" if source == "" else source)
        runs.append(["convert", "-i", str(source_path), "-o", str(folder / "out"), *args])
    result = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(runs)], capture_output=True, text=True, timeout=300)
    parts = result.stderr.split(SEPARATOR)[1:]
    assert len(parts) == len(CASES), result.stderr[-3000:]
    return {name: part for name, part in zip(CASES, parts)}


@pytest.mark.parametrize("name", list(CASES))
def test_first_error_line_names_the_file_and_the_reason(name, error_lines_by_case):
    words = CASES[name][3]
    stderr = error_lines_by_case[name]
    line = first_error_line(stderr)
    missing = [word for word in words if word not in line]
    assert not missing, f"{name}: the first ERROR line lacks {missing}: {line!r}\n{stderr[-2000:]}"


def test_the_installed_datum_prints_the_reason_first(tmp_path):
    write(tmp_path / "bad.yaml", b"seed: 0\nstyle: {slant: [50, 10]}\n")
    result = run_datum("convert", "-if", "mnist_synthetic", "-i", str(tmp_path / "bad.yaml"), "-f", "mnist",
                       "-o", str(tmp_path / "out"), check=False)
    assert result.returncode != 0
    line = first_error_line(result.stderr)
    assert "bad.yaml" in line and "'style.slant'" in line, result.stderr[-2000:]


def test_a_bad_export_option_value_is_a_usage_error_naming_it(tmp_path):
    result = run_datum("convert", "-if", "mnist", "-i", SAMPLE, "-f", "mnist", "-o", str(tmp_path / "out"),
                       "--", "--compress-level", "12", check=False)
    assert result.returncode != 0
    assert "--compress-level" in next(line for line in result.stderr.splitlines() if "error:" in line)


def test_first_line_keeps_foreign_errors_and_completes_ours():
    from datumaro.components.errors import DatasetImportError

    def raise_ours():  # a frame of this test file is not the package's: it passes through error_lines below
        error_lines.cause_chain(None)  # AttributeError raised inside the package

    try:
        try:
            raise_ours()
        except AttributeError as e:
            raise DatasetImportError("Failed to import dataset 'mnist' at 'x'.") from e
    except DatasetImportError as wrapper:
        line = error_lines.first_line(wrapper)
    assert line.startswith("Failed to import dataset 'mnist' at 'x': AttributeError: ")

    try:
        try:
            {}["key"]
        except KeyError as e:
            raise DatasetImportError("Failed to import dataset 'coco' at 'y'.") from e
    except DatasetImportError as foreign:
        assert error_lines.first_line(foreign) == "Failed to import dataset 'coco' at 'y'."
