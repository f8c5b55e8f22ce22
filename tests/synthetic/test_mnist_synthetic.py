"""The `mnist_synthetic` source as users reach it: recipes, overrides, determinism, CLI, generator."""

import json
import os.path as osp

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datumaro as dm
from datumaro.components.environment import Environment
from datumaro.components.errors import DatumaroError

from datumaro_mnist_plugins.codecs import idx
from datumaro_mnist_plugins.mnist_synthetic import MnistSyntheticBase, MnistSyntheticGenerator, Recipe

from ..conftest import error_text, run_datum

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = osp.join(REPO, "assets", "recipes", "small.yaml")
DEFAULT = osp.join(REPO, "assets", "recipes", "mnist.yaml")


def write_recipe(folder, data, name="recipe.yaml"):
    path = osp.join(str(folder), name)
    with open(path, "w") as f:
        json.dump(data, f) if name.endswith(".json") else f.write(__import__("yaml").safe_dump(data))
    return path


def test_the_default_recipe_describes_mnist_without_generating_anything():
    dataset = dm.Dataset.import_from(DEFAULT, "mnist_synthetic")
    assert len(dataset) == 70000
    assert {s: len(dataset.get_subset(s)) for s in dataset.subsets()} == {"train": 60000, "test": 10000}
    assert [c.name for c in dataset.categories()[dm.AnnotationType.label]] == list("0123456789")


def test_items_are_deterministic_whatever_the_order_of_access():
    forward = dm.Dataset.import_from(SMALL, "mnist_synthetic")
    images = {(i.subset, i.id): i.media.data.copy() for i in forward}
    again = dm.Dataset.import_from(SMALL, "mnist_synthetic")
    for key in reversed(list(images)):
        item = again.get(key[1], key[0])
        assert np.array_equal(item.media.data, images[key])
    first, second = images[("train", "0")], images[("train", "1")]
    assert first.shape == (28, 28) and first.dtype == np.uint8 and not np.array_equal(first, second)


def test_labels_follow_the_recipe_classes_and_proportions(tmp_path):
    path = write_recipe(
        tmp_path,
        {"seed": 1, "subsets": {"train": 2000}, "classes": [3, 8], "proportions": [3, 1], "label_names": ["three", "eight"]},
    )
    dataset = dm.Dataset.import_from(path, "mnist_synthetic")
    labels = np.array([item.annotations[0].label for item in dataset])
    assert [c.name for c in dataset.categories()[dm.AnnotationType.label]] == ["three", "eight"]
    assert 0.70 < np.mean(labels == 0) < 0.80


def test_overrides_from_python():
    dataset = dm.Dataset.import_from(SMALL, "mnist_synthetic", subsets={"val": 5}, seed=3, style={"image_size": 32})
    assert len(dataset) == 5 and list(dataset.subsets()) == ["val"]
    assert next(iter(dataset)).media.data.shape == (32, 32)


def test_json_recipes_and_folders_with_recipe_yaml(tmp_path):
    as_json = write_recipe(tmp_path, {"seed": 2, "subsets": {"train": 3}}, name="r.json")
    assert len(dm.Dataset.import_from(as_json, "mnist_synthetic")) == 3
    write_recipe(tmp_path, {"seed": 2, "subsets": {"train": 4}})
    assert len(dm.Dataset.import_from(str(tmp_path), "mnist_synthetic")) == 4


@pytest.mark.parametrize(
    "data, key",
    [
        ({"seed": 1, "colour": "red"}, "'colour'"),
        ({"seed": -1}, "'seed'"),
        ({"seed": 1, "subsets": {"train": -5}}, "'subsets.train'"),
        ({"seed": 1, "subsets": {"train": {"count": 5, "indices": "3-9"}}}, "'subsets.train'"),
        ({"seed": 1, "classes": [1, 12]}, "'classes'"),
        ({"seed": 1, "proportions": [1, 2]}, "'proportions'"),
        ({"seed": 1, "label_names": ["a"]}, "'label_names'"),
        ({"seed": 1, "style": {"wobble": 3}}, "'style.wobble'"),
        ({"seed": 1, "style": {"image_size": 2}}, "'style.image_size'"),
    ],
)
def test_bad_recipes_are_errors_naming_the_key(tmp_path, data, key):
    path = write_recipe(tmp_path, data)
    with pytest.raises(DatumaroError) as info:
        dm.Dataset.import_from(path, "mnist_synthetic")
    assert key in error_text(info.value) and "recipe.yaml" in error_text(info.value)


def test_an_unparseable_recipe_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("seed: [1,\n")
    with pytest.raises(DatumaroError) as info:
        dm.Dataset.import_from(str(path), "mnist_synthetic")
    assert "broken.yaml" in error_text(info.value)


def test_detection_finds_recipes_and_ignores_other_yaml(tmp_path):
    write_recipe(tmp_path, {"seed": 5, "subsets": {"train": 2}})
    assert Environment().detect_dataset(str(tmp_path)) == ["mnist_synthetic"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text("learning_rate: 0.1\n")
    assert "mnist_synthetic" not in Environment().detect_dataset(str(other))


def test_streaming_import():
    stream = dm.StreamDataset.import_from(SMALL, "mnist_synthetic")
    assert stream.is_stream and sum(1 for _ in stream) == 300


def test_readme_main_job_command_on_the_small_recipe(tmp_path):
    run_datum("convert", "-if", "mnist_synthetic", "-i", SMALL, "-f", "mnist", "-o", str(tmp_path / "out"), "--", "--save-media")
    images = idx.read_idx(str(tmp_path / "out" / "train-images-idx3-ubyte.gz"))
    labels = idx.read_idx(str(tmp_path / "out" / "t10k-labels-idx1-ubyte.gz"))
    assert images.shape == (200, 28, 28) and labels.shape == (100,)
    reference = dm.Dataset.import_from(SMALL, "mnist_synthetic").get("17", "train").media.data
    assert np.array_equal(images[17], reference)


def test_registered_as_a_dataset_generator(tmp_path):
    assert Environment().generators.get("mnist_synthetic") is MnistSyntheticGenerator
    MnistSyntheticGenerator.generate(str(tmp_path), count=12, shape=(28, 28), seed=4)
    dataset = dm.Dataset.import_from(str(tmp_path), "mnist")
    assert len(dataset) == 12 and all(item.annotations for item in dataset)


def test_recipe_mapping_round_trips():
    recipe = Recipe.from_mapping({"seed": 9, "subsets": {"a": 3}, "classes": [1, 7], "style": {"image_size": 20}})
    assert Recipe.from_mapping(recipe.to_mapping()) == recipe


def test_preview_contact_sheet(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    out = tmp_path / "sheet.png"
    result = subprocess.run(
        [sys.executable, "-m", "datumaro_mnist_plugins", "preview", "-i", SMALL, "-if", "mnist_synthetic", "-o", str(out), "--per-class", "4"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Image.open(out) as sheet:
        assert sheet.height >= 10 * 56 and sheet.width >= 4 * 56


@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(0, 60),
    keep=st.one_of(st.none(), st.sets(st.integers(0, 9), max_size=10)),
    picks=st.sets(st.integers(0, 59)),
    probe=st.lists(st.integers(-2, 70), max_size=20),
)
def test_get_finds_exactly_the_items_a_filtered_subset_iterates(count, keep, picks, probe):
    """`get(id, subset)` answers an item iff iterating yields it: whole, class-filtered or index-filtered."""
    spec = {"count": count}
    if keep is not None:
        spec["keep_classes"] = sorted(keep)
    indices = sorted(i for i in picks if i < count)
    source = MnistSyntheticBase(
        recipe=Recipe.from_mapping({"subsets": {"a": spec, "b": {"count": count, "indices": indices}}}), workers=1
    )
    for subset in ("a", "b"):
        iterated = [item.id for item in source.get_subset(subset)]
        for id in set(iterated) | {str(p) for p in probe} | {"x", ""}:
            item = source.get(id, subset)
            assert (item is not None) == (id in iterated)
            assert item is None or (item.id, item.subset) == (id, subset)
        assert source.get_subset(subset).get(iterated[0] if iterated else "0", "c") is None
