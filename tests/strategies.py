"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: Every dtype LiveFrame accepts.
FRAME_DTYPES = [np.uint8, np.uint16, np.float16, np.float32, np.float64, np.bool_]


def valid_frames(max_side: int = 12) -> st.SearchStrategy[np.ndarray]:
    """Any frame LiveFrame accepts: HxW, HxWx1, HxWx3 or HxWx4 of an accepted dtype, NaN and inf included."""
    return hnp.arrays(
        dtype=st.sampled_from(FRAME_DTYPES),
        shape=st.one_of(
            hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=max_side),
            st.tuples(st.integers(1, max_side), st.integers(1, max_side), st.sampled_from([1, 3, 4])),
        ),
    )
