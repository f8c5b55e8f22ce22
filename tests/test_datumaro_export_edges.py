"""Where Datumaro's ``Dataset.export`` fails before our exporter runs: nothing of the user's is touched.

Datumaro 1.13's ``Dataset.export`` calls ``os.makedirs(save_dir)`` before it calls the exporter (no plugin
hook runs in between), and asks a ``StreamDataset`` for ``get_patch()`` before it calls
``Exporter.patch`` for an in-place export. We don't patch Datumaro, so these stay Datumaro's own errors;
these tests pin down that they lose nothing and that our exporter is never reached.
"""

import os
import signal

import pytest

from datumaro.components.dataset import Dataset, StreamDataset
from datumaro.components.errors import DatasetExportError, NotAvailableError

from .test_transaction import digits, exit_status, forked, tree

FORMATS = ["mnist", "mnist_csv", "mnist_synthetic"]


def never_called(*args, **kwargs):
    raise AssertionError("our exporter was reached")


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataset_export_onto_a_file_is_datumaros_makedirs_error_and_the_file_is_untouched(tmp_path, monkeypatch, fmt):
    target = tmp_path / "file"
    target.write_bytes(b"keep me")
    dataset = digits(3, 1)
    exporter = dataset.env.exporters[fmt]
    monkeypatch.setattr(exporter, "convert", classmethod(never_called))
    for dest in (target, target / "below"):
        with pytest.raises((FileExistsError, NotADirectoryError)) as error:
            dataset.export(str(dest), fmt, save_media=True)
        assert str(target) in str(error.value)  # Datumaro's message names the path, at least
    assert target.read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["file"]


@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
def test_a_first_export_killed_before_our_exporter_starts_leaves_an_empty_folder_the_next_export_uses(tmp_path, fmt):
    dest = tmp_path / "out"

    def killed_at_start():
        exporter = Dataset.from_iterable([]).env.exporters[fmt]
        exporter.convert = classmethod(lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
        digits(3, 1).export(str(dest), fmt, save_media=True)

    assert exit_status(forked(killed_at_start)) == -signal.SIGKILL
    assert sorted(os.listdir(tmp_path)) == ["out"] and os.listdir(dest) == []  # Datumaro's makedirs, nothing else
    digits(3, 1).export(str(dest), fmt, save_media=True)
    assert len(Dataset.import_from(str(dest), fmt)) == 3
    assert sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize("fmt", ["mnist", "mnist_csv"])
def test_an_in_place_export_of_a_stream_dataset_fails_in_datumaro_before_anything_is_touched(tmp_path, monkeypatch,
                                                                                            fmt):
    source = tmp_path / "data"
    digits(4, 3).export(str(source), fmt, save_media=True)
    (source / "NOTES.md").write_text("mine")
    before = tree(source)
    stream = StreamDataset.import_from(str(source), fmt)
    monkeypatch.setattr(stream.env.exporters[fmt], "patch", classmethod(never_called))
    with pytest.raises(NotAvailableError, match="not allowed in streaming"):
        stream.export(str(source), fmt, save_media=True)
    assert tree(source) == before
    assert sorted(os.listdir(tmp_path)) == ["data"]
    monkeypatch.undo()
    # what to do instead: a (lazy, non-stream) Dataset exports in place, keeping the user's files
    dataset = Dataset.import_from(str(source), fmt)
    dataset.export(str(source), fmt, save_media=True)
    assert (source / "NOTES.md").read_text() == "mine" and len(Dataset.import_from(str(source), fmt)) == 4


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="Datumaro's Dataset.export removes a folder it "
                   "made when the export fails, with whatever another export committed into it meanwhile")
def test_a_failed_dataset_export_never_removes_an_export_that_committed_meanwhile(tmp_path, monkeypatch):
    out = tmp_path / "out"  # absent when Dataset.export starts: Datumaro will rmtree it if the export fails
    dataset = digits(3, 1)
    exporter = dataset.env.exporters["mnist"]
    real_convert = exporter.convert.__func__

    def committed_elsewhere_then_fails(cls, _dataset, save_dir, **options):
        real_convert(cls, digits(5, 2), save_dir, **options)  # another process's export, which succeeds
        raise DatasetExportError("this export fails (a bad item)")

    monkeypatch.setattr(exporter, "convert", classmethod(committed_elsewhere_then_fails))
    with pytest.raises(DatasetExportError):
        dataset.export(str(out), "mnist", save_media=True)
    monkeypatch.undo()
    assert out.is_dir(), "the other export, which reported success, is gone"
    assert len(Dataset.import_from(str(out), "mnist")) == 5
