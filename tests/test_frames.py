import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from livecam_widget._frames import MAX_SIDE, check_frame, fit, owned_copy, to_display
from tests.strategies import valid_frames


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 1), (4, 5, 3), (4, 5, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.bool_, np.float16, np.float32, np.float64])
def test_accepted_shapes_and_dtypes_become_uint8(shape: tuple[int, ...], dtype: type) -> None:
    frame = np.ones(shape, dtype)
    out = to_display(check_frame(frame))
    assert out.dtype == np.uint8
    assert out.shape[:2] == (4, 5)
    assert out.flags.c_contiguous
    expected_channels = {2: None, 1: None, 3: 3, 4: 4}[shape[2] if len(shape) == 3 else 2]
    assert (out.shape[2] if out.ndim == 3 else None) == expected_channels


def test_value_scaling() -> None:
    assert to_display(np.array([[0.0, 0.5, 1.0, 2.0, -1.0]], np.float32)).tolist() == [[0, 128, 255, 255, 0]]
    assert to_display(np.array([[np.nan, np.inf, -np.inf]])).tolist() == [[0, 255, 0]]
    assert to_display(np.array([[0, 65535, 256]], np.uint16)).tolist() == [[0, 255, 1]]
    assert to_display(np.array([[True, False]])).tolist() == [[255, 0]]


def test_rgb_is_swapped_to_bgr() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red
    bgr = to_display(rgb, "rgb")
    assert bgr[0, 0].tolist() == [0, 0, 200]
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 10
    rgba[..., 3] = 99
    assert to_display(rgba, "rgb")[0, 0].tolist() == [0, 0, 10, 99]


@pytest.mark.parametrize(
    ("frame", "error", "words"),
    [
        (np.zeros((4, 4), np.int32), TypeError, ["int32", "uint8"]),
        (np.zeros((4, 4), np.complex64), TypeError, ["complex64"]),
        (np.zeros((4, 4, 2), np.uint8), ValueError, ["(4, 4, 2)", "HxWx3"]),
        (np.zeros((4,), np.uint8), ValueError, ["(4,)"]),
        (np.zeros((2, 4, 4, 3), np.uint8), ValueError, ["(2, 4, 4, 3)"]),
        (np.zeros((0, 4), np.uint8), ValueError, ["empty", "(0, 4)"]),
        (np.zeros((4, 0, 3), np.uint8), ValueError, ["empty"]),
        ([[1, 2], [3, 4]], TypeError, ["list", "numpy array"]),
        (None, TypeError, ["NoneType"]),
        ("frame.png", TypeError, ["str"]),
    ],
)
def test_bad_frames_name_what_was_wrong_and_what_is_accepted(
    frame: object, error: type, words: list[str]
) -> None:
    with pytest.raises(error) as info:
        check_frame(frame)
    for word in words:
        assert word in str(info.value)


def test_huge_frames_are_refused_without_allocating() -> None:
    # A broadcast view: looks huge, costs nothing; check_frame must refuse it on shape alone.
    huge = np.broadcast_to(np.zeros((1, 1), np.uint8), (MAX_SIDE + 1, 10))
    with pytest.raises(ValueError, match="too large"):
        check_frame(huge)


def test_array_likes_are_accepted() -> None:
    class ArrayLike:
        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return np.zeros((3, 3), np.uint8)

    assert check_frame(ArrayLike()).shape == (3, 3)


def test_owned_copy_detaches_from_callers_buffer_and_handles_odd_layouts() -> None:
    base = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    strided = base[:, ::2]  # non-contiguous
    readonly = base.copy()
    readonly.flags.writeable = False
    for frame in (strided, readonly):
        copy = owned_copy(frame)
        assert copy.flags.c_contiguous and copy.flags.writeable
        np.testing.assert_array_equal(copy, frame)
    copy = owned_copy(base)
    base[:] = 0
    assert copy.any()


def test_fit_downscales_longest_side_and_keeps_aspect() -> None:
    frame = np.zeros((300, 600, 3), np.uint8)
    assert fit(frame, 0) is frame
    assert fit(frame, 600) is frame
    assert fit(frame, 200).shape == (100, 200, 3)


@settings(max_examples=60, deadline=None)
@given(valid_frames(max_side=8))
def test_any_valid_frame_converts(frame: np.ndarray) -> None:
    out = to_display(check_frame(frame))
    assert out.dtype == np.uint8 and out.shape[:2] == frame.shape[:2]


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.float32]),
        shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5),
    )
)
def test_any_invalid_shape_raises_value_error(frame: np.ndarray) -> None:
    valid = frame.ndim in (2, 3) and frame.shape[0] > 0 and frame.shape[1] > 0
    valid = valid and (frame.ndim == 2 or frame.shape[2] in (1, 3, 4))
    if valid:
        check_frame(frame)
    else:
        with pytest.raises(ValueError, match=str(frame.shape).replace("(", r"\(").replace(")", r"\)")):
            check_frame(frame)
