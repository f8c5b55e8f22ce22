"""Hostile inputs (issue 12 §6-10, issue 15 §5): every one a clear Datumaro error naming the file, in bounded memory.

Each class is a family of cases, not one example: two files that become one subset; a file changed
under a streaming import; inputs that would make us allocate what a header or a line merely claims;
side files that are nested, huge or not text; things that are not files where files are expected.
Cases that could hang or kill the interpreter run in a subprocess (or under an alarm).
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import os.path as osp
import signal
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datumaro.components.dataset import Dataset
from datumaro.components.errors import DatumaroError

from datumaro_mnist_plugins.codecs import idx

from .conftest import SETTINGS, error_text, run_datum

IMAGES, LABELS = "images-idx3-ubyte", "labels-idx1-ubyte"


def write_mnist(folder, prefix: str, count: int = 3, label: int = 1, suffix: str = ".gz") -> None:
    os.makedirs(folder, exist_ok=True)
    idx.write_idx(osp.join(folder, f"{prefix}-{IMAGES}{suffix}"), np.full((count, 28, 28), label, np.uint8))
    idx.write_idx(osp.join(folder, f"{prefix}-{LABELS}{suffix}"), np.full(count, label, np.uint8))


def csv_row(label: int = 1, pixels: int = 784) -> str:
    return ",".join([str(label)] + ["0"] * pixels) + "\n"


def write_csv(path, count: int = 3, label: int = 1) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(csv_row(label) * count)


def import_error(path, fmt: str, **options) -> str:
    """The message chain of the Datumaro error importing *path* raises (any other exception fails the test)."""
    with pytest.raises(DatumaroError) as error:
        len(Dataset.import_from(str(path), fmt, **options))
    return error_text(error.value)


# --- §6 two sources, one subset --------------------------------------------------------------------------

#: File prefixes of one folder and the subset each becomes.
MNIST_PREFIXES = {"train": "train", "test": "test", "t10k": "test", "qmnist-test": "test", "qmnist-train": "train",
                  "xnist": "nist", "nist": "nist", "extra": "extra"}
CSV_NAMES = {"mnist_train.csv": "train", "fashion-mnist_train.csv": "train", "kmnist_train.csv": "train",
             "mnist_test.csv": "test", "qmnist_test.csv": "test", "mnist_extra.csv": "extra"}


def _check_clash_rule(tmp_path, fmt: str, names: dict, chosen: list, write) -> None:
    """Either each file is its own subset with all its items, or an error names two files of one subset.

    *write* (folder, name, label) writes a file and returns the path an error would name.
    """
    paths = {name: write(tmp_path, name, i) for i, name in enumerate(chosen)}
    subsets = [names[n] for n in chosen]
    clashing = [n for n in chosen if subsets.count(names[n]) > 1]
    if clashing:
        text = import_error(tmp_path, fmt)
        assert "would both be subset" in text
        assert sum(paths[name] in text for name in clashing) == 2, text
    else:
        dataset = Dataset.import_from(str(tmp_path), fmt)
        assert sorted(dataset.subsets()) == sorted(subsets)
        for name in chosen:
            labels = {item.annotations[0].label for item in dataset.get_subset(names[name])}
            assert labels == {chosen.index(name)}, name  # no mixed labels


@settings(max_examples=12, **SETTINGS)
@given(chosen=st.lists(st.sampled_from(sorted(MNIST_PREFIXES)), min_size=1, max_size=3, unique=True))
def test_mnist_files_of_one_subset_are_refused_naming_both(tmp_path_factory, chosen):
    tmp_path = tmp_path_factory.mktemp("clash")
    def write(folder, prefix, label):
        write_mnist(str(folder), prefix, label=label)
        return osp.join(str(folder), f"{prefix}-{LABELS}.gz")

    _check_clash_rule(tmp_path, "mnist", MNIST_PREFIXES, chosen, write)


@settings(max_examples=12, **SETTINGS)
@given(chosen=st.lists(st.sampled_from(sorted(CSV_NAMES)), min_size=1, max_size=3, unique=True))
def test_csv_files_of_one_subset_are_refused_naming_both(tmp_path_factory, chosen):
    tmp_path = tmp_path_factory.mktemp("clash")
    def write(folder, name, label):
        write_csv(osp.join(str(folder), name), label=label)
        return osp.join(str(folder), name)

    _check_clash_rule(tmp_path, "mnist_csv", CSV_NAMES, chosen, write)


def test_csv_files_of_one_subset_in_two_subfolders_are_refused(tmp_path):
    write_csv(str(tmp_path / "a" / "mnist_train.csv"))
    write_csv(str(tmp_path / "b" / "mnist_train.csv"))
    text = import_error(tmp_path, "mnist_csv")
    assert osp.join("a", "mnist_train.csv") in text and osp.join("b", "mnist_train.csv") in text


# --- §9 subset names a file name gives ------------------------------------------------------------------


@pytest.mark.parametrize("subset", ["..", "C:", "c:x", "..\\up", "a/../.."])
@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
def test_a_file_name_giving_an_unsafe_subset_name_is_a_clear_error(tmp_path, fmt, subset):
    name = subset.replace("/", "\\")  # one file name, whatever the subset says
    if fmt == "mnist":
        idx.write_idx(str(tmp_path / f"{name}-{LABELS}"), np.zeros(3, np.uint8))
    else:
        write_csv(str(tmp_path / f"mnist_{name}.csv"))
    text = import_error(tmp_path, fmt)
    assert name in text and "subset name" in text


@pytest.mark.parametrize("shape", [(5,), (3, 784), (3, 1, 28, 28)])
def test_images_not_n_by_h_by_w_are_a_clear_error(tmp_path, shape):
    idx.write_idx(str(tmp_path / f"train-{IMAGES}"), np.zeros(shape, np.uint8))
    idx.write_idx(str(tmp_path / f"train-{LABELS}"), np.zeros(3, np.uint8))
    assert f"train-{IMAGES}" in import_error(tmp_path, "mnist")


# --- §9 side files: nested, huge, not text --------------------------------------------------------------

HUGE = 20 << 20  # more than any side file holds
SIDE_FILES = {
    # name -> (format, {kind: content}); an MNIST subset is written beside each
    "dataset_meta.json": ("mnist", {
        "nested": b"[" * 200_000 + b"]" * 200_000,
        "nested-object": b'{"labels": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
        "huge": b'{"labels": ["' + b"a" * HUGE + b'"]}',
        "bad-bytes": b'{"labels": ["\xff\xfe"]}',
    }),
    "labels.txt": ("mnist", {"huge": b"a" * HUGE, "bad-bytes": b"zero\n\xff\xfe\n"}),
    "kmnist_classmap.csv": ("mnist", {
        "huge-field": b"index,codepoint,char\n0,U+304A," + b"x" * 200_000 + b"\n",
        "huge-number": b"index,codepoint,char\n" + b"9" * 5000 + b",U+304A,a\n",
        "bad-bytes": b"index,codepoint,char\n0,U+304A,\xff\n",
        "huge": b"index,codepoint,char\n" + b"0,U+304A,a\n" * (HUGE // 10),
    }),
    "emnist-digits-mapping.txt": ("mnist", {
        "huge-number": b"0 " + b"9" * 5000 + b"\n",
        "bad-bytes": b"0 48\n\xff 49\n",
        "huge": b"0 48\n" * (HUGE // 5),
    }),
    "train-meta.gz": ("mnist", {
        "not-gzip": b"\xff" * 100,
        "bad-bytes": gzip.compress(np.full((3, 32), 0xDFFF, "<u4").tobytes()),
        "wrong-rows": gzip.compress(b"\0" * 12),
    }),
    "meta_train.csv": ("mnist_csv", {
        "huge-field": b'"' + b"a" * 200_000 + b'"\n',
        "bad-bytes": b"\xff\xfe,1,1\n",
        "huge-number": b"a," + b"9" * 5000 + b",1\n",
        "nul": b"a\0,1,1\n",
    }),
}


def _write_subset_for(folder, name: str, fmt: str) -> None:
    if fmt == "mnist_csv":
        write_csv(str(folder / "mnist_train.csv"))
    elif name.startswith("emnist-"):
        write_mnist(str(folder), "emnist-digits-train")
    else:
        write_mnist(str(folder), "train")


@pytest.mark.parametrize(
    "name, kind", [(name, kind) for name, (_, kinds) in SIDE_FILES.items() for kind in kinds]
)
def test_a_hostile_side_file_is_a_clear_error_naming_it(tmp_path, name, kind):
    fmt, kinds = SIDE_FILES[name]
    _write_subset_for(tmp_path, name, fmt)
    (tmp_path / name).write_bytes(kinds[kind])
    assert str(tmp_path / name) in import_error(tmp_path, fmt)


# --- §10 not a file where a file is expected ------------------------------------------------------------

#: Every slot: (format, the name, how the rest of the dataset is written).
SLOTS = {
    "mnist images": ("mnist", f"train-{IMAGES}", lambda d: idx.write_idx(str(d / f"train-{LABELS}"), np.zeros(3, np.uint8))),
    "mnist labels": ("mnist", f"train-{LABELS}.gz", lambda d: idx.write_idx(str(d / f"train-{IMAGES}"), np.zeros((3, 28, 28), np.uint8))),
    "mnist sidecar": ("mnist", "train-meta.gz", lambda d: write_mnist(str(d), "train")),
    "labels.txt": ("mnist", "labels.txt", lambda d: write_mnist(str(d), "train")),
    "dataset_meta.json": ("mnist_csv", "dataset_meta.json", lambda d: write_csv(str(d / "mnist_train.csv"))),
    "emnist mapping": ("mnist", "emnist-digits-mapping.txt", lambda d: write_mnist(str(d), "emnist-digits-train")),
    "kmnist classmap": ("mnist", "kmnist_classmap.csv", lambda d: write_mnist(str(d), "train")),
    "csv data": ("mnist_csv", "mnist_test.csv", lambda d: write_csv(str(d / "mnist_train.csv"))),
    "csv sidecar": ("mnist_csv", "meta_train.csv", lambda d: write_csv(str(d / "mnist_train.csv"))),
    "image file": ("mnist", osp.join("images", "train", "1"), lambda d: (
        idx.write_idx(str(d / f"train-{LABELS}"), np.zeros(3, np.uint8)), os.makedirs(d / "images" / "train"),
        (d / "images" / "train" / "0.png").write_bytes(b""))),
}
KINDS = {"dir": ("directory", os.mkdir), "fifo": ("FIFO", os.mkfifo),
         "devnull": ("character device", lambda p: os.symlink(os.devnull, p))}


@pytest.fixture
def no_hang():
    """Fail, instead of hanging the suite, if something opens a FIFO and waits for a writer."""
    def timeout(*_):
        raise TimeoutError("blocked: a FIFO was opened for reading")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file kinds")
@pytest.mark.parametrize(
    "slot, kind",  # a folder among image files holds ids with a '/'
    [(slot, kind) for slot in sorted(SLOTS) for kind in sorted(KINDS) if (slot, kind) != ("image file", "dir")],
)
def test_a_directory_fifo_or_device_in_a_file_slot_is_an_error_naming_it(tmp_path, no_hang, slot, kind):
    fmt, name, write_rest = SLOTS[slot]
    write_rest(tmp_path)
    what, make = KINDS[kind]
    make(str(tmp_path / name))
    text = import_error(tmp_path, fmt)
    assert f"{tmp_path / name}: is a {what}" in text, text


# --- §7 a file changed under a streaming import ---------------------------------------------------------

CHANGE_SCRIPT = textwrap.dedent(
    """
    import os, sys, numpy as np
    from datumaro.components.dataset import StreamDataset
    from datumaro.components.errors import DatumaroError
    folder, change = sys.argv[1], sys.argv[2]
    images = [os.path.join(folder, n) for n in os.listdir(folder) if "images" in n][0]
    seen = 0
    try:
        for item in StreamDataset.import_from(folder, "mnist"):
            item.media.data.sum()
            seen += 1
            if seen == 100:
                size = os.path.getsize(images)
                if change == "rename":  # a new file in its place: the open one is read to its end
                    os.replace(images, images + ".old"); open(images, "wb").close()
                else:
                    os.truncate(images, {"zero": 0, "header": 16, "half": size // 2}[change])
        print("complete", seen)
    except DatumaroError as e:
        chain, error = [], e
        while error is not None:
            chain.append(str(error)); error = error.__cause__ or error.__context__
        print("error", seen, " | ".join(chain))
    """
)


def _stream_while_changing(tmp_path, layout: str, change: str, count: int = 3000) -> subprocess.CompletedProcess:
    """Stream a raw images file of *layout*, changing it (*change*) after 100 items, in a subprocess."""
    if layout == "mixed-sizes":  # a flat payload, sizes in the sidecar: an export of two sizes
        from datumaro.components.dataset_base import DatasetItem
        from datumaro.components.media import Image

        items = [DatasetItem(id=str(i), media=Image.from_numpy(np.zeros((28 + i % 2, 28), np.uint8))) for i in range(count)]
        Dataset.from_iterable(items).export(str(tmp_path / "gz"), "mnist", save_media=True)
        payload = idx.read_idx(str(tmp_path / "gz" / f"default-{IMAGES}.gz"), flat_count=sum(28 * (28 + i % 2) for i in range(count)))
        with open(tmp_path / f"default-{IMAGES}", "wb") as f:
            f.write(idx.header_bytes(np.uint8, (count, 0, 0)) + payload.tobytes())
        os.replace(tmp_path / "gz" / "default-meta.gz", tmp_path / "default-meta.gz")
    else:
        prefix = "emnist-digits-train" if layout == "emnist" else "train"
        idx.write_idx(str(tmp_path / f"{prefix}-{IMAGES}"), np.zeros((count, 28, 28), np.uint8))
    result = subprocess.run([sys.executable, "-c", CHANGE_SCRIPT, str(tmp_path), change],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"died with {result.returncode}: {result.stderr[-2000:]}"  # < 0: a signal (SIGBUS)
    return result


@pytest.mark.parametrize(
    "layout, change",
    [("plain", "zero"), ("plain", "header"), ("plain", "half"), ("emnist", "half"), ("mixed-sizes", "half")],
)
def test_a_raw_file_truncated_while_streaming_is_an_error_not_a_crash(tmp_path, layout, change):
    result = _stream_while_changing(tmp_path, layout, change)
    assert result.stdout.startswith("error"), result.stdout
    assert IMAGES in result.stdout and "changed while being read" in result.stdout


def test_a_raw_file_replaced_while_streaming_is_read_to_its_end(tmp_path):
    """Not a regression of main (its map kept the old file too): the open file is what is read."""
    result = _stream_while_changing(tmp_path, "plain", "rename", count=3000)
    assert result.stdout.startswith("complete 3000"), result.stdout


# --- §8 memory bounded by what the file holds -----------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from datumaro.components.dataset import Dataset
    from datumaro.components.errors import DatumaroError

    def chain(error):
        parts = []
        while error is not None:
            parts.append(f"{type(error).__name__}: {error}"); error = error.__cause__ or error.__context__
        return " | ".join(parts)

    def attempt(path, fmt):
        try:
            return "ok %d" % len(Dataset.import_from(path, fmt))
        except DatumaroError as e:
            return "error " + chain(e)
        except MemoryError as e:
            return "MemoryError " + chain(e)

    cases = json.loads(sys.argv[1])
    attempt(cases[0][1], cases[0][2])  # warm up: every module this needs is imported
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
    limit = vm + (100 << 20)  # 100 MB above Datumaro's footprint, address space included
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(json.dumps({name: attempt(path, fmt) for name, path, fmt in cases}))
    """
)


def _xz_with_dictionary(payload: bytes, dict_code: int = 40) -> bytes:
    """An .xz stream whose block header declares the LZMA2 dictionary *dict_code* (40: 4 GiB)."""
    data = bytearray(lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                                   filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 16}]))
    header_size = (data[12] + 1) * 4
    header = data[12 : 12 + header_size]
    at = header.index(b"\x21\x01") + 2  # LZMA2 filter id, property size, then the dictionary byte
    header[at] = dict_code
    header[-4:] = struct.pack("<I", zlib.crc32(bytes(header[:-4])))
    data[12 : 12 + header_size] = header
    return bytes(data)


def _sparse(path, head: bytes, size: int, tail: bytes = b"") -> None:
    """*head*, NUL bytes up to *size* (a hole: no disk is used), then *tail*."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
        f.seek(size)
        f.write(tail)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_hostile_inputs_fail_within_100_mb(tmp_path):
    gig = 1 << 30
    cases = {}

    def case(name: str, fmt: str):
        folder = tmp_path / name
        folder.mkdir()
        cases[name] = (str(folder), fmt)
        return folder

    write_mnist(str(case("control", "mnist")), "train", count=1000)
    header = idx.header_bytes(np.uint8, (10, 28, 28))
    d = case("xz-4gib-dictionary", "mnist")
    (d / f"train-{IMAGES}.xz").write_bytes(_xz_with_dictionary(header + bytes(7840)))
    d = case("sidecar-bomb-header-claims-billions", "mnist")
    (d / f"train-{IMAGES}").write_bytes(idx.header_bytes(np.uint8, (2**32 - 1, 28, 28)) + bytes(784))
    with gzip.open(d / "train-meta.gz", "wb", compresslevel=1) as f:
        for _ in range(20):
            f.write(bytes(8 << 20))  # 160 MB of cells from a 160 KB file
    for name, head, tail in [("csv-1gb-line", b"1,", b"\n"), ("csv-1gb-header", b"label,", b"\n1,0\n"),
                             ("csv-1gb-second-line", csv_row().encode() + b"1,", b"\n")]:
        _sparse(case(name, "mnist_csv") / "mnist_train.csv", head, gig, tail)
    d = case("csv-sidecar-1gb-line", "mnist_csv")
    write_csv(str(d / "mnist_train.csv"))
    _sparse(d / "meta_train.csv", b'"', gig, b'"\n')
    for name in ("labels.txt", "dataset_meta.json", "kmnist_classmap.csv"):
        d = case(f"{name}-1gb", "mnist")
        write_mnist(str(d), "train")
        _sparse(d / name, b"", gig)
    arguments = json.dumps([["control", *cases.pop("control")]] + [[n, p, f] for n, (p, f) in cases.items()])
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, arguments], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcomes.pop("control") == "ok 1000"  # the limit leaves room for a real import
    for name, outcome in outcomes.items():
        assert outcome.startswith("error"), (name, outcome)
        assert "MemoryError" not in outcome, (name, outcome)
    assert "MiB allowed" in outcomes["xz-4gib-dictionary"]
    assert "line 1 is longer" in outcomes["csv-1gb-line"] and "line 2 is longer" in outcomes["csv-1gb-second-line"]


# --- issue 15 §5: labels without images -----------------------------------------------------------------


def test_labels_without_images_warn_once_not_once_per_item(tmp_path):
    idx.write_idx(str(tmp_path / f"t10k-{LABELS}.gz"), (np.arange(3000) % 10).astype(np.uint8))
    result = run_datum("stats", f"{tmp_path}:mnist", cwd=str(tmp_path))
    lines = (result.stdout + result.stderr).splitlines()
    named = [line for line in lines if f"t10k-{IMAGES}" in line]
    assert len(named) == 1 and "WARNING" in named[0] and "3000 items have no image" in named[0]
    assert len(lines) < 20, "\n".join(lines[:10])
    stats = json.loads((tmp_path / "statistics.json").read_text())
    assert stats["annotations"]["labels"]["count"] == 3000
