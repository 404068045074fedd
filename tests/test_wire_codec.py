import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from kiosk.wire import codec
from kiosk.wire.messages import (
    Command,
    CommandAck,
    DesiredConfig,
    Event,
    EventAck,
    EventBatch,
    Health,
    Presence,
    ReportedState,
    Request,
    Response,
)
from kiosk.wire.ranges import in_ranges, to_ranges

MODELS: list[type[BaseModel]] = [
    EventBatch, EventAck, Presence, Health, ReportedState, DesiredConfig, Command, CommandAck,
    Request, Response,
]


def batch(n: int = 3) -> EventBatch:
    return EventBatch(device_id="dev-001", events=[
        Event(seq=i + 1, ts_ms=1_700_000_000_000 + i, type="ad.impression", data={"c": "x"})
        for i in range(n)
    ])


def test_round_trip() -> None:
    b = batch()
    assert codec.decode(EventBatch, codec.encode(b)) == b


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[]", "invalid"),
        (json.dumps({"v": 2, "device_id": "dev-001", "events": []}).encode(),
         "unsupported_version"),
        (json.dumps({"device_id": "dev-001", "events": [{"seq": 1, "ts_ms": 1, "type": "a"}],
                     "extra": 1}).encode(), "invalid"),
        (json.dumps({"device_id": "dev-001", "events": []}).encode(), "invalid"),
        (json.dumps({"device_id": "dev-001", "events": [
            {"seq": 1, "ts_ms": 1, "type": "a"}, {"seq": 1, "ts_ms": 2, "type": "a"}]}).encode(),
         "invalid"),
        (json.dumps({"device_id": "dev-001", "events": [
            {"seq": 0, "ts_ms": 1, "type": "a"}]}).encode(), "invalid"),
        (json.dumps({"device_id": "dev/001", "events": [
            {"seq": 1, "ts_ms": 1, "type": "a"}]}).encode(), "invalid"),
        (b"{" + b" " * (codec.MAX_PAYLOAD_BYTES + 1) + b"}", "oversized"),
    ],
)
def test_rejections_name_their_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(codec.WireError) as err:
        codec.decode(EventBatch, payload)
    assert err.value.reason == reason


def test_command_expiry_must_follow_issue() -> None:
    with pytest.raises(codec.WireError):
        codec.decode(Command, b'{"cmd_id":"abcdefgh","name":"ping","issued_ms":5,"expires_ms":5}')
    cmd = codec.decode(Command, b'{"cmd_id":"abcdefgh","name":"ping","issued_ms":5,"expires_ms":9}')
    assert not cmd.expired(8) and cmd.expired(9)


def test_response_error_iff_not_ok() -> None:
    with pytest.raises(codec.WireError):
        codec.decode(Response, b'{"ok":false}')
    assert codec.decode(Response, b'{"ok":true,"result":{}}').ok


def test_reject_counter() -> None:
    c = codec.RejectCounter()
    c.add("events", "invalid")
    c.add("events", "invalid")
    c.add("health", "malformed_json")
    assert c.total == 3
    assert c.snapshot() == {"events:invalid": 2, "health:malformed_json": 1}


@settings(max_examples=300)
@given(st.binary(max_size=2048), st.sampled_from(MODELS))
def test_random_bytes_never_escape_as_anything_but_wire_error(payload: bytes,
                                                              model: type[BaseModel]) -> None:
    try:
        codec.decode(model, payload)
    except codec.WireError as exc:
        assert exc.reason in {"empty", "malformed_json", "invalid", "unsupported_version"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                 max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["v", "device_id", "events", "seq", "ts_ms", "type",
                                        "data", "online", "ranges", "cmd_id", "ok"]),
                       json_values, max_size=6),
       st.sampled_from(MODELS))
def test_random_json_is_accepted_only_when_valid(doc: dict[str, Any],
                                                 model: type[BaseModel]) -> None:
    payload = json.dumps(doc).encode()
    try:
        msg = codec.decode(model, payload)
    except codec.WireError:
        return
    # Whatever is accepted re-encodes to something that decodes to the same message.
    assert codec.decode(model, codec.encode(msg)) == msg


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=80))
def test_ranges_cover_exactly_the_seqs(seqs: list[int]) -> None:
    ranges = to_ranges(seqs)
    assert sorted({s for lo, hi in ranges for s in range(lo, hi + 1)}) == sorted(set(seqs))
    for (_, hi), (lo2, _) in itertools.pairwise(ranges):
        assert lo2 > hi + 1  # maximal: neighbours never touch
    for s in range(1, 302):
        assert in_ranges(s, ranges) == (s in set(seqs))
    if ranges:
        assert EventAck(ranges=ranges).covers(ranges[0][0])


