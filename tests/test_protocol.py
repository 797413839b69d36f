import json
import struct

import pytest

from livecam_widget._protocol import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    MAX_CLIENT_MESSAGE,
    NextRequest,
    ProtocolError,
    VideoOffer,
    hello,
    pack_frame,
    parse_client_message,
    status,
    unpack_frame,
)


def test_frame_layout_is_length_header_payload() -> None:
    message = pack_frame({"seq": 3, "mime": "image/jpeg"}, b"\xff\xd8jpeg")
    (n,) = struct.unpack(">I", message[:4])
    assert json.loads(message[4 : 4 + n]) == {"seq": 3, "mime": "image/jpeg"}
    assert message[4 + n :] == b"\xff\xd8jpeg"
    assert unpack_frame(message) == ({"seq": 3, "mime": "image/jpeg"}, b"\xff\xd8jpeg")


@pytest.mark.parametrize("message", [b"", b"\x00\x00", b"\x00\x00\x00\x09{}", b"\x00\x00\x00\x02{}"])
def test_truncated_or_incomplete_frames_are_rejected(message: bytes) -> None:
    with pytest.raises(ValueError):
        unpack_frame(message)


def test_next_with_and_without_paint_report() -> None:
    assert parse_client_message('{"type": "next"}').painted is None
    request = parse_client_message(
        '{"type":"next","painted":{"seq":7,"rev":2,"decode_ms":1.5,"paint_ms":"x","extra":1},"more":true}'
    )
    assert request.painted is not None
    assert (request.painted.seq, request.painted.rev, request.painted.decode_ms) == (7, 2, 1.5)
    assert request.painted.paint_ms is None  # a non-number duration is ignored, not trusted


def test_next_may_grant_several_frames_in_one_message() -> None:
    assert parse_client_message('{"type": "next"}').count == 1
    assert parse_client_message('{"type": "next", "n": 3}').count == 3
    keyed = parse_client_message('{"type":"next","n":2,"key":true,"painted":{"seq":1,"rev":0}}')
    assert keyed.count == 2 and keyed.key and keyed.painted is not None


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b'{"type":"next"}', CLOSE_UNSUPPORTED),
        ("not json", CLOSE_POLICY),
        ("[1, 2]", CLOSE_POLICY),
        ('{"type": "reboot"}', CLOSE_POLICY),
        ('{"no": "type"}', CLOSE_POLICY),
        ('{"type": "next", "painted": 5}', CLOSE_POLICY),
        ('{"type": "next", "painted": {"seq": "7"}}', CLOSE_POLICY),
        ('{"type": "next", "painted": {"seq": true}}', CLOSE_POLICY),
        ('{"type": "next", "n": 0}', CLOSE_POLICY),
        ('{"type": "next", "n": 1.5}', CLOSE_POLICY),
        ('{"type": "next", "n": true}', CLOSE_POLICY),
        ('{"type": "next", "n": "2"}', CLOSE_POLICY),
        ("[" * 100000, CLOSE_TOO_BIG),
        ('{"type": "next", "pad": "' + "x" * MAX_CLIENT_MESSAGE + '"}', CLOSE_TOO_BIG),
    ],
)
def test_bad_client_messages_map_to_close_codes(message: str | bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(message)
    assert info.value.code == code


def test_unknown_type_in_error_is_bounded() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(json.dumps({"type": "y" * 1000}))
    assert len(info.value.reason) < 100


def test_text_messages() -> None:
    assert json.loads(hello(4, 240, "live")) == {
        "type": "hello",
        "protocol": 1,
        "max_outstanding": 4,
        "max_messages_per_s": 240,
        "state": "live",
    }
    assert json.loads(status("paused", None)) == {"type": "status", "state": "paused", "error": None}


def test_video_offers_and_key_requests() -> None:
    offer = parse_client_message('{"type":"video","codecs":["h264","av1-later"]}')
    assert offer == VideoOffer(frozenset({"h264"}))  # names it does not know are ignored
    assert parse_client_message('{"type":"video","codecs":[]}') == VideoOffer(frozenset())
    assert parse_client_message('{"type":"next","key":true}') == NextRequest(key=True)
    keyed = parse_client_message('{"type":"next","key":true,"painted":{"seq":1,"rev":0}}')
    assert isinstance(keyed, NextRequest) and keyed.key and keyed.painted is not None
    bad_offers = ["h264", [1], ["x" * 17], ["h264"] * 9]
    bad = [json.dumps({"type": "video", "codecs": codecs}) for codecs in bad_offers]
    for message in [*bad, '{"type":"video"}', '{"type":"next","key":1}']:
        with pytest.raises(ProtocolError, match=r"video\.codecs|next\.key") as caught:
            parse_client_message(message)
        assert caught.value.code == CLOSE_POLICY
