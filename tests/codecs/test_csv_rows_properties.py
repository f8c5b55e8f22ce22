"""Property tests (Hypothesis) of the pure CSV codec: its quick path parses as the checked path, or declines."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from datumaro_mnist_plugins.codecs import csv_rows

from ..conftest import SETTINGS



# --- the CSV parser's two paths ---------------------------------------------------------------------------------


def csv_texts():
    """Lines of fields that are mostly numbers 0..255 (the quick path's input), with every way to be off:
    1..4 digits, values over 255, empty fields, blank lines, signs, spaces, other bytes, ``\\r\\n``."""
    field = st.one_of(
        st.integers(0, 255).map(str),
        st.integers(0, 255).map(str),
        st.integers(0, 9999).map(str),
        st.text(alphabet="0123456789-+ .x\t\r", max_size=4),
    )
    line = st.lists(field, min_size=0, max_size=6).map(",".join)
    return st.lists(line, min_size=1, max_size=8).map(lambda lines: ("\n".join(lines) + "\n").encode())


@settings(max_examples=400, **SETTINGS)
@given(text=csv_texts(), has_label=st.booleans())
def test_csv_quick_path_parses_as_the_checked_path_or_declines(text, has_label):
    """The quick path reads a block exactly as the field-by-field path does, or leaves it to that path."""
    text = text.replace(b"\r\n", b"\n")  # as parse_rows does first
    quick = csv_rows._parse_plain(text, 7)
    checked = csv_rows._parse_checked(text, 7, has_label)
    plain = all(
        field.isdigit() and len(field) <= 3 and int(field) <= 255
        for line in text.decode().split("\n")[:-1]
        for field in line.split(",")
    )
    assert (quick is not None) == plain
    if quick is not None:
        assert not checked.bad_rows
        assert quick.line_count == checked.line_count == text.count(b"\n")
        for name in ("labels", "starts", "counts", "lines"):
            assert np.array_equal(getattr(quick, name), getattr(checked, name)), name
        assert np.array_equal(quick.values, checked.values)
