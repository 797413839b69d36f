import cv2
import numpy as np
import pytest
from hypothesis import given, settings

from livecam_widget._encoder import Encoded, Encoder, Failure, Settings
from livecam_widget._frames import check_frame, to_display
from livecam_widget._slot import Frame
from tests.strategies import valid_frames


def frame(data: np.ndarray, seq: int = 1) -> Frame:
    return Frame(seq, 123.5, data)


def decode(encoded: Encoded) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(encoded.data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_png_round_trip_is_exact_for_gray_bgr_and_bgra() -> None:
    rng = np.random.default_rng(1)
    for shape in [(7, 9), (7, 9, 3), (7, 9, 4)]:
        data = rng.integers(0, 256, shape, dtype=np.uint8)
        result = Encoder().encode(frame(data), 0, Settings(format="png"), None)
        assert isinstance(result, Encoded)
        assert result.mime == "image/png" and (result.width, result.height) == (9, 7)
        np.testing.assert_array_equal(decode(result), data)


def test_jpeg_is_close_and_drops_alpha() -> None:
    data = np.zeros((32, 48, 4), np.uint8)
    data[..., 2] = 200
    data[..., 3] = 10
    result = Encoder().encode(frame(data), 0, Settings(quality=95), None)
    assert isinstance(result, Encoded) and result.mime == "image/jpeg"
    image = decode(result)
    assert image.shape == (32, 48, 3)
    assert abs(int(image[16, 24, 2]) - 200) <= 3


def test_rgb_channels_and_max_size() -> None:
    data = np.zeros((100, 200, 3), np.uint8)
    data[..., 0] = 255  # red in RGB
    result = Encoder().encode(frame(data), 0, Settings(format="png", max_size=50, channels="rgb"), None)
    assert isinstance(result, Encoded)
    assert (result.width, result.height, result.source_width, result.source_height) == (50, 25, 200, 100)
    assert decode(result)[10, 10].tolist() == [0, 0, 255]


def test_process_gets_a_private_copy_and_its_output_is_normalised() -> None:
    data = np.zeros((10, 10, 3), np.uint8)

    def draw(img: np.ndarray) -> np.ndarray:
        img[:] = 255  # in place, as OpenCV code does
        return img[..., 0].astype(np.float32) / 255.0  # gray float out

    result = Encoder().encode(frame(data), 0, Settings(format="png"), draw)
    assert isinstance(result, Encoded)
    assert decode(result).tolist() == np.full((10, 10), 255, np.uint8).tolist()
    assert not data.any()  # the slot's frame is untouched


def test_process_errors_become_failures_with_the_users_line() -> None:
    def broken(img: np.ndarray) -> np.ndarray:
        return img / 0 if False else img[:, :, 7]

    result = Encoder().encode(frame(np.zeros((4, 4, 3), np.uint8), seq=9), 2, Settings(), broken)
    assert isinstance(result, Failure)
    assert (result.seq, result.rev) == (9, 2)
    assert "process() raised IndexError" in result.message and "test_encoder.py" in result.message


def test_process_returning_garbage_is_a_failure() -> None:
    result = Encoder().encode(frame(np.zeros((4, 4, 3), np.uint8)), 0, Settings(), lambda img: "oops")
    assert isinstance(result, Failure)
    assert result.message.startswith("process() returned no frame: its result must be")
    assert "got builtins.str" in result.message and "test_encoder.py:" in result.message  # the user's code
    assert "raised" not in result.message and "_frames.py" not in result.message


def test_render_is_cached_per_seq_and_rev() -> None:
    calls: list[int] = []

    def count(img: np.ndarray) -> np.ndarray:
        calls.append(1)
        return img

    encoder = Encoder()
    f = frame(np.zeros((4, 4, 3), np.uint8))
    encoder.render(f, 0, Settings(), count)
    encoder.render(f, 0, Settings(), count)
    assert len(calls) == 1
    encoder.render(f, 1, Settings(), count)
    assert len(calls) == 2


@pytest.mark.parametrize("quality", [10, 90])
def test_quality_changes_size(quality: int) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    low = Encoder().encode(frame(data), 0, Settings(quality=10), None)
    high = Encoder().encode(frame(data), 0, Settings(quality=90), None)
    assert isinstance(low, Encoded) and isinstance(high, Encoded)
    assert len(low.data) < len(high.data)


@settings(max_examples=40, deadline=None)
@given(valid_frames(max_side=12))
def test_every_valid_frame_round_trips_exactly_through_png(data: np.ndarray) -> None:
    result = Encoder().encode(frame(check_frame(data)), 0, Settings(format="png"), None)
    assert isinstance(result, Encoded)
    np.testing.assert_array_equal(decode(result), to_display(data))
