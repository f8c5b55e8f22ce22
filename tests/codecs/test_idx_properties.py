"""Property tests (Hypothesis) of the pure IDX codec: every IDX type, any number of dimensions (zero-sized
ones too), every compression; and any bytes behind a plausible header meet the codec's own error."""

import os.path as osp
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from datumaro_mnist_plugins.codecs import idx

from ..conftest import SETTINGS

COMPRESSIONS = ["", *idx.OPENERS]


# --- the IDX codec ---------------------------------------------------------------------------------------------


@st.composite
def idx_arrays(draw):
    dtype = draw(st.sampled_from(sorted(idx.IDX_DTYPES.values(), key=str)))
    dtype = dtype.newbyteorder(draw(st.sampled_from(["<", ">", "="]))) if dtype.itemsize > 1 else dtype
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6))
    return draw(hnp.arrays(dtype, shape))


def same_values(a, b):
    """Equal shapes and values, NaNs of any payload included: compare the big-endian bytes."""
    return a.shape == b.shape and idx.to_big_endian(a).tobytes() == idx.to_big_endian(np.asarray(b)).tobytes()


@settings(max_examples=150, **SETTINGS)
@given(array=idx_arrays(), compression=st.sampled_from(COMPRESSIONS))
def test_idx_codec_round_trips_any_type_shape_and_compression(array, compression):
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, "data-idx" + compression)
        idx.write_idx(path, array, compress_level=1)
        dtype, shape = idx.read_header(path)
        assert dtype == idx.IDX_DTYPES[idx.IDX_TYPE_CODES[array.dtype.newbyteorder("=")]] and shape == array.shape
        back = idx.read_idx(path)
        assert back.dtype == dtype and same_values(array, back)
        if array.ndim:  # the flat view mixed-size images are read through
            flat = idx.read_idx(path, flat_count=array.size)
            assert same_values(array.reshape(-1), flat)
        del back


@settings(max_examples=150, **SETTINGS)
@given(
    head=st.sampled_from([b"", b"\0\0\x08\x01", b"\0\0\x08\x03", b"\0\0\x0d\x02", b"\0\0\x0c\x00"]),
    body=st.binary(max_size=64),
    compression=st.sampled_from(COMPRESSIONS),
)
def test_idx_reader_meets_any_bytes_with_its_own_error(head, body, compression):
    """Arbitrary content behind a plausible header: an array or an IdxFormatError, never anything else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, "data-idx" + compression)
        with idx.open_binary(path, "wb") as f:
            f.write(head + body)
        try:
            array = idx.read_idx(path)
        except idx.IdxFormatError as e:
            assert path in str(e)
        else:
            assert array.nbytes == len(head + body) - 4 - 4 * (head + body)[3]
            del array
