"""The sidecar files (sidecar.py): read within bounds."""

from datumaro_mnist_plugins.sidecar import read_idx_sidecar

from .conftest import traced_peak, write_mnist_sidecar


def test_sidecar_is_read_without_allocating_for_the_longest_possible_ids(tmp_path):
    """A 5,000-row sidecar is 640 KB; reading it used to reserve room for 4,099-character ids (250 MB)."""
    rows = [[f"id-{i}"] for i in range(5000)]
    write_mnist_sidecar(tmp_path, rows)
    sidecar, peak = traced_peak(lambda: read_idx_sidecar(str(tmp_path / "train-meta.gz"), 5000))
    assert sidecar.ids[:2] == ["id-0", "id-1"]
    assert peak < 8 * 5000 * 32 * 4, peak
