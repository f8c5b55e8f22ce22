"""A filtered subset's kept items are runs, never a list of ints: a million kept items cost what the text says.

The fuzzer found ``indices: 0-999999`` allocating 88 MB (a tuple of a million Python ints). Every spelling
of ~10⁶ kept items now imports, iterates and saves within a traced-memory bound well below that, with the
same items as before; :class:`IndexRuns` behaves as the sorted list of its items (a Hypothesis property).
"""

from __future__ import annotations

import itertools
import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datumaro as dm

from datumaro_mnist_plugins.mnist_synthetic import RecipeError, format_ranges, load_recipe, save_recipe
from datumaro_mnist_plugins.synthetic.index_runs import IndexRuns
from datumaro_mnist_plugins.synthetic.parallel import WORKERS_ENV

COUNT = 10**6
EVENS = np.arange(0, COUNT, 2)
PAIRS = np.sort(np.concatenate([np.arange(0, COUNT - 1, 3), np.arange(1, COUNT, 3)]))
#: name -> (file name, the recipe's `indices` text, the items it keeps). The old code peaked at 56-86 MB.
SPELLINGS = {
    "one range": ("recipe.yaml", "0-999999", np.arange(COUNT)),
    "one range, JSON": ("recipe.json", "0-999999", np.arange(COUNT)),
    "500,000 single items": ("recipe.yaml", ",".join(map(str, EVENS.tolist())), EVENS),
    "333,333 two-item ranges": ("recipe.yaml", ",".join(f"{i}-{i + 1}" for i in range(0, COUNT - 1, 3)), PAIRS),
}


def write(folder, name, indices_text) -> str:
    data = {"seed": 0, "subsets": {"a": {"count": COUNT, "indices": indices_text}}}
    path = folder / name
    path.write_text(json.dumps(data) if name.endswith(".json") else
                    f"seed: 0\nsubsets:\n  a:\n    count: {COUNT}\n    indices: {indices_text}\n")
    return str(path)


def traced_peak(action) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(SPELLINGS))
def test_a_million_kept_items_import_and_render_in_bounded_memory(tmp_path, monkeypatch, name):
    """What the fuzzer does with a recipe: import it, count it, draw its first items."""
    file_name, text, expected = SPELLINGS[name]
    path = write(tmp_path, file_name, text)
    monkeypatch.setenv(WORKERS_ENV, "1")
    seen = {}

    def import_and_render():
        dataset = dm.StreamDataset.import_from(path, "mnist_synthetic")
        seen["len"], seen["first"] = len(dataset), list(itertools.islice(dataset, 25))

    peak = traced_peak(import_and_render)
    # 8 bytes a run (a run takes at least 2 bytes of text), and the text held while it is read
    bound = 12 * 2**20 + 4 * len(text)
    assert peak < bound, f"{name}: traced peak {peak / 2**20:.1f} MB > {bound / 2**20:.1f} MB"
    assert seen["len"] == len(expected)
    assert [item.id for item in seen["first"]] == [str(i) for i in expected[:25]]
    assert all(item.media.data.shape == (28, 28) for item in seen["first"])
    kept = load_recipe(path).subsets["a"].indices
    assert np.array_equal(np.asarray(kept), expected)  # the same items as the expanded list held
    save_recipe(str(tmp_path / "saved.yaml"), load_recipe(path), "exact")  # written, and loaded back the same
    assert load_recipe(str(tmp_path / "saved.yaml")).subsets["a"].indices == kept


def test_saving_half_a_million_runs_writes_them_in_bounded_memory(tmp_path):
    text = SPELLINGS["500,000 single items"][1]
    recipe = load_recipe(write(tmp_path, "recipe.yaml", text))
    peak = traced_peak(lambda: save_recipe(str(tmp_path / "saved.yaml"), recipe, "exact"))  # and loads it back
    assert peak < 12 * 2**20 + 6 * len(text), f"traced peak {peak / 2**20:.1f} MB"
    assert (tmp_path / "saved.yaml").read_text().count(text) == 1


def test_iterating_kept_items_allocates_almost_nothing(tmp_path):
    kept = load_recipe(write(tmp_path, "recipe.yaml", SPELLINGS["333,333 two-item ranges"][1])).subsets["a"].indices
    peak = traced_peak(lambda: sum(1 for _ in itertools.islice(kept, 200_000)))  # 24 chunks of runs
    assert peak < 1 << 20
    assert np.array_equal(list(itertools.islice(kept, 200_000)), PAIRS[:200_000])


sorted_sets = st.sets(st.integers(0, 300), max_size=60).map(sorted)


@settings(max_examples=200, deadline=None)
@given(values=sorted_sets, probe=st.integers(-5, 310), cut=st.tuples(st.integers(-70, 70), st.integers(-70, 70)))
def test_index_runs_behave_as_the_sorted_list_of_their_items(values, probe, cut):
    runs = IndexRuns.of(values)
    assert list(runs) == values and len(runs) == len(values)
    assert runs == IndexRuns.parse(format_ranges(values), 301) == IndexRuns.of(np.array(values, np.int64))
    assert (probe in runs) == (probe in values)
    assert runs.position(probe) == (values.index(probe) if probe in values else -1)
    assert runs[cut[0] : cut[1]].tolist() == values[cut[0] : cut[1]]
    if values:
        assert [runs[i] for i in range(-len(values), len(values))] == values + values
    with pytest.raises(IndexError):
        runs[len(values)]


def read_part_by_part(text: str, count: int):
    """The reading before runs (a list of every item), as the reference: None where it raised."""
    values = []
    try:
        for part in filter(None, text.replace(" ", "").split(",")):
            first_text, _, last_text = part.partition("-")
            first, last = int(first_text), int(last_text or first_text)
            if not 0 <= first <= last < count or (values and first <= values[-1]):
                return None
            values.extend(range(first, last + 1))
    except ValueError:
        return None
    return values


PIECES = list("0123456789-, ") + ["12", "-3", "+", "٣", "_", "a"]


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
       count=st.integers(1, 10**6))
def test_any_indices_text_reads_as_it_did_part_by_part_or_is_an_error(text, count):
    expected = read_part_by_part(text, count)
    if expected is None:
        with pytest.raises(ValueError):
            IndexRuns.parse(text, count)
    else:
        assert list(IndexRuns.parse(text, count)) == expected


def test_an_out_of_order_range_far_into_a_long_text_is_named(tmp_path):
    parts = [str(i) for i in EVENS.tolist()]
    parts[300_000], parts[300_001] = parts[300_001], parts[300_000]  # many chunks in
    with pytest.raises(RecipeError, match="increasing: '600000' comes after 600002"):
        load_recipe(write(tmp_path, "recipe.yaml", ",".join(parts)))


@pytest.mark.parametrize("text, words", [
    ("5,3", ["increasing", "'3'"]), ("0-9,9-12", ["increasing", "'9-12'"]), ("0-999,1000", ["'1000'", "0..999"]),
    ("7-2", ["'7-2'"]), ("a-b", ["invalid"]), ("0-99," * 3, ["increasing"]),
])
def test_ranges_out_of_order_or_out_of_bounds_are_errors_naming_the_key(tmp_path, text, words):
    path = tmp_path / "recipe.yaml"
    path.write_text(f"subsets: {{a: {{count: 1000, indices: '{text}'}}}}\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(str(path))
    for word in [str(path), "'subsets.a'"] + words:
        assert word in str(error.value)
