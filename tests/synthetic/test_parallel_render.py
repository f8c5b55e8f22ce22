"""Generated digits drawn on several processes: the same bytes whatever the worker count, lazy for
random access, no process left behind, and a failed draw reported with the item it was drawing."""

import gc
import hashlib
import multiprocessing
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import datumaro as dm
from datumaro.components.errors import DatasetExportError, DatasetImportError

from datumaro_mnist_plugins.synthetic import parallel, strokes
from datumaro_mnist_plugins.mnist_synthetic import MnistSyntheticBase, Recipe
from datumaro_mnist_plugins.synthetic.parallel import WORKERS_ENV, RenderError, render_items

from ..conftest import error_text, run_datum
from .test_mnist_synthetic import write_recipe

#: 32x32 digits: 96 to a block, so a few hundred items span several blocks.
RECIPE = {
    "seed": 7,
    "subsets": {
        "train": 300,
        "test": {"count": 200, "keep_classes": [3, 8]},
        "val": {"count": 400, "indices": "0-9,50-180,399"},
    },
    "style": {"image_size": 32},
}


@pytest.fixture
def recipe_path(tmp_path):
    return write_recipe(tmp_path, RECIPE)


@pytest.fixture(autouse=True)
def no_workers_left():
    yield
    gc.collect()  # a dataset dropped by the test stops its workers when it is collected
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()


def digest(dataset) -> str:
    h = hashlib.sha256()
    for item in dataset:
        h.update(f"{item.subset}/{item.id}/{[a.label for a in item.annotations]}".encode())
        h.update(np.ascontiguousarray(item.media.data).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("stream", [False, True], ids=["dataset", "stream"])
def test_the_pixels_are_the_same_whatever_the_worker_count(recipe_path, stream):
    cls = dm.StreamDataset if stream else dm.Dataset
    digests = {w: digest(cls.import_from(recipe_path, "mnist_synthetic", workers=w)) for w in (1, 2, 3)}
    assert len(set(digests.values())) == 1, digests


def test_an_export_is_byte_identical_whatever_the_worker_count(recipe_path, tmp_path):
    outputs = {}
    for workers in ("1", "3"):
        out = tmp_path / f"out{workers}"
        env = dict(os.environ, **{WORKERS_ENV: workers})
        run_datum("convert", "-if", "mnist_synthetic", "-i", recipe_path, "-f", "mnist", "-o", str(out),
                  "--", "--save-media", env=env)
        outputs[workers] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert outputs["1"] == outputs["3"] and outputs["1"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reads=st.lists(st.tuples(st.sampled_from(["train", "test", "val"]), st.integers(0, 399),
                                st.integers(1, 150)), min_size=1, max_size=4))
def test_any_mix_of_runs_and_jumps_gives_each_item_its_own_pixels(recipe_path, reads):
    """Runs of sequential reads (served by the pool's blocks) and jumps (drawn alone) in any order."""
    source = MnistSyntheticBase(recipe_path, workers=2)
    digits, recipe = source._digits, source.recipe
    try:
        for subset, start, length in reads:
            kept = list(digits.indices(subset))
            for index in kept[kept.index(min(kept, key=lambda k: abs(k - start))):][:length]:
                alone = render_items(recipe.seed, recipe.style, subset, [index],
                                     [recipe.classes[digits.label(subset, index)]])[0]
                assert np.array_equal(digits.image(subset, index), alone), (subset, index)
    finally:
        digits.close()


def counting_renders(monkeypatch, fail_at=None):
    """Count draws (by process id); with *fail_at*, drawing that item fails."""
    calls = []
    real_scan, real_streams = strokes.scan_digits, parallel.item_streams

    def scan_digits(digits, *args, **kwargs):
        scans = real_scan(digits, *args, **kwargs)
        calls.extend([os.getpid()] * len(scans))  # one a digit drawn
        return scans

    def item_streams(seed, subset, indices):
        for index, stream in zip(indices, real_streams(seed, subset, indices)):
            if (subset, index) == ("train", fail_at):
                raise ValueError("the pen broke")
            yield stream

    monkeypatch.setattr(strokes, "scan_digits", scan_digits)
    monkeypatch.setattr(parallel, "item_streams", item_streams)
    return calls


def test_a_random_get_draws_one_digit_in_process(recipe_path, monkeypatch):
    calls = counting_renders(monkeypatch)
    dataset = dm.Dataset.import_from(recipe_path, "mnist_synthetic", workers=2)
    items = list(dataset)  # building items draws nothing
    assert len(items) > 300 and calls == []
    for subset, item_id in (("train", "123"), ("val", "60"), ("train", "7")):
        assert dataset.get(item_id, subset).media.data.shape == (32, 32)
    assert calls == [os.getpid()] * 3
    assert not multiprocessing.active_children()


def test_a_sequential_read_is_drawn_by_the_workers(recipe_path, monkeypatch):
    calls = counting_renders(monkeypatch)
    dataset = dm.Dataset.import_from(recipe_path, "mnist_synthetic", workers=2)
    for item in dataset.get_subset("train"):
        item.media.data
    assert calls == [os.getpid()]  # the first read is alone; the rest come from the pool's blocks
    assert len(multiprocessing.active_children()) == 2


def test_one_worker_draws_in_process(recipe_path, monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "1")
    calls = counting_renders(monkeypatch)
    dataset = dm.Dataset.import_from(recipe_path, "mnist_synthetic")
    digest(dataset)
    # every item once, in blocks; the first of each subset also alone, before the read is sequential
    assert len(dataset) <= len(calls) <= len(dataset) + len(RECIPE["subsets"]) and set(calls) == {os.getpid()}
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "1000"])
def test_a_bad_worker_count_is_a_clear_import_error(recipe_path, monkeypatch, value):
    monkeypatch.setenv(WORKERS_ENV, value)
    with pytest.raises(DatasetImportError) as error:
        dm.Dataset.import_from(recipe_path, "mnist_synthetic")
    assert f"{recipe_path}: {WORKERS_ENV} must be a whole number" in error_text(error.value)
    monkeypatch.delenv(WORKERS_ENV)
    with pytest.raises(DatasetImportError) as error:
        dm.Dataset.import_from(recipe_path, "mnist_synthetic", workers=value)
    assert f"{recipe_path}: workers must be a whole number" in error_text(error.value)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_draw_in_a_worker_names_the_item(recipe_path, monkeypatch, tmp_path, workers):
    counting_renders(monkeypatch, fail_at=150)  # forked workers inherit the broken pen
    dataset = dm.Dataset.import_from(recipe_path, "mnist_synthetic", workers=workers)
    with pytest.raises(DatasetExportError) as error:
        dataset.export(str(tmp_path / "out"), "mnist", save_media=True)
    message = error_text(error.value)
    assert "item '150' of subset 'train'" in message and "the pen broke" in message
    assert not (tmp_path / "out").exists()


def test_a_block_that_fails_only_together_is_a_clear_error(monkeypatch):
    """A block whose pen paths fail together, though each digit alone draws: the error names the block."""
    def broken_block(digits, rngs, style):
        if len(digits) > 1:
            raise MemoryError("no room for the block")
        return real(digits, rngs, style)

    real = strokes.scan_digits
    monkeypatch.setattr(strokes, "scan_digits", broken_block)
    style = strokes.DigitStyle()
    with pytest.raises(RenderError, match=r"can't draw items 40\.\.42 of subset 'train' together"):
        render_items(0, style, "train", [40, 41, 42], [1, 2, 3])
    assert render_items(0, style, "train", [41], [2]).shape == (1, 28, 28)


def test_a_worker_killed_mid_read_is_a_clear_error(recipe_path):
    source = MnistSyntheticBase(recipe_path, workers=2)
    items = iter(source)
    next(items).media.data
    next(items).media.data  # a sequential read: the pool starts
    for child in multiprocessing.active_children():
        os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(RenderError, match=r"drawing items \d+\.\.\d+ of subset 'train' died \(exit code -9\)"):
        for item in items:
            item.media.data


ABANDON = textwrap.dedent(
    """
    import multiprocessing, os, signal, sys, time
    # Ctrl-C live as in a terminal, even when the suite itself runs in the background (SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import datumaro as dm
    dataset = dm.StreamDataset.import_from(sys.argv[1], "mnist_synthetic", workers=3)
    for n, item in enumerate(dataset):
        item.media.data
        if n == 100:
            break
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    how = sys.argv[2]
    if how == "raise":
        raise RuntimeError("abandoned")
    if how == "wait":
        time.sleep(60)
    """
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not osp.isdir("/proc"), reason="reads process states from /proc")
@pytest.mark.parametrize("how", ["exit", "raise", "SIGKILL", "SIGINT"])
def test_no_worker_outlives_an_abandoned_read(recipe_path, how):
    process = subprocess.Popen([sys.executable, "-c", ABANDON, recipe_path, how if how in ("exit", "raise") else "wait"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids = [int(p) for p in process.stdout.readline().split()]
    assert len(pids) == 3, process.stderr.read()
    if how == "SIGKILL":
        process.kill()  # no clean-up code runs: the workers see their pipe close
    elif how == "SIGINT":
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, pids))


def test_an_export_builds_each_item_once(recipe_path, tmp_path, monkeypatch):
    from datumaro_mnist_plugins.mnist_synthetic import SyntheticDigits

    built = []
    real = SyntheticDigits.item
    monkeypatch.setattr(SyntheticDigits, "item", lambda self, s, i: built.append((s, i)) or real(self, s, i))
    dataset = dm.Dataset.import_from(recipe_path, "mnist_synthetic", workers=1)
    dataset.export(str(tmp_path / "out"), "mnist", save_media=True)
    assert len(built) == len(set(built)) == len(dataset)  # a subset is read alone, not filtered from all
    assert len(dataset.get_subset("val")) == 142 and dataset.get_subset("val").get("60", "val") is not None


def test_a_stream_holds_a_few_blocks_and_draws_each_once(tmp_path, monkeypatch):
    from datumaro_mnist_plugins.synthetic.parallel import BlockRenderer, RenderPool

    submitted, held = [], []
    real_submit, real_store = RenderPool.submit, BlockRenderer._store

    def submit(self, key, *args):
        submitted.append(key)
        return real_submit(self, key, *args)

    def store(self, blocks):
        real_store(self, blocks)
        held.append(len(self._cache))

    monkeypatch.setattr(RenderPool, "submit", submit)
    monkeypatch.setattr(BlockRenderer, "_store", store)
    path = write_recipe(tmp_path, {"seed": 1, "subsets": {"train": 1500}})
    for item in dm.StreamDataset.import_from(path, "mnist_synthetic", workers=2):
        item.media.data
    per_block = parallel._BLOCK_BYTES // 28**2  # digits of 28x28 a block
    assert sorted(submitted) == [("train", b) for b in range(-(-1500 // per_block))]
    assert max(held) <= 2 * 4 + 2  # the read-ahead window (4 blocks a worker) and the block being read


def _read_in_child(source, queue):
    queue.put(digest(source))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="forks a reader")
@pytest.mark.parametrize("daemon", [True, False], ids=["daemonic", "plain"])
def test_a_forked_reader_leaves_its_parents_workers_alone(recipe_path, daemon):
    """A DataLoader worker forked mid-read gets the same pixels and neither uses nor stops our pool."""
    source = MnistSyntheticBase(recipe_path, workers=2)
    items = iter(source)
    for _ in range(100):
        next(items).media.data  # the pool is running, blocks are in flight
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(source, queue), daemon=daemon)
    child.start()
    child_digest = queue.get(timeout=120)
    child.join(timeout=30)
    assert child.exitcode == 0
    rest = [item.media.data for item in items]  # the parent's pool still serves it
    assert len(rest) == len(source) - 100
    assert child_digest == digest(MnistSyntheticBase(recipe_path, workers=1))
    source._digits.close()
