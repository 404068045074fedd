"""The controller's event-batch decoder against the contract model it stands in for."""

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.wire import codec
from kiosk.wire.batch_decoder import decode_event_batch
from kiosk.wire.messages import EventBatch

# Standard JSON only (no NaN/Infinity: see test_non_standard_json_is_refused...)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                 max_size=4),
    max_leaves=20,
)

_valid_batches = st.fixed_dictionaries({
    "device_id": st.sampled_from(["till-01", "t-2"]),
    "events": st.lists(st.fixed_dictionaries(
        {"seq": st.integers(1, 2**62), "ts_ms": st.integers(0, 10**13),
         "type": st.sampled_from(["ad.play", "touch", "pay.done"])},
        optional={"data": st.dictionaries(st.text(max_size=4), json_values, max_size=3)}),
        min_size=1, max_size=5, unique_by=lambda e: e["seq"])},
    optional={"v": st.just(1), "more": st.booleans()})
_MUTATIONS: dict[str, Any] = {
    "seq0": ("event", "seq", 0), "seq_big": ("event", "seq", 2**62 + 1),
    "seq_float": ("event", "seq", 1.5), "seq_whole_float": ("event", "seq", 1.0),
    "seq_text": ("event", "seq", "1"), "seq_underscore": ("event", "seq", "1_0"),
    "seq_bool": ("event", "seq", True), "ts_neg": ("event", "ts_ms", -1),
    "ts_text": ("event", "ts_ms", "5"), "type_bad": ("event", "type", "Bad Type"),
    "type_empty": ("event", "type", ""), "type_newline": ("event", "type", "touch\n"),
    "type_long": ("event", "type", "t" * 65), "data_list": ("event", "data", [1]),
    "data_null": ("event", "data", None), "data_text": ("event", "data", "{}"),
    "event_extra": ("event", "extra", 1), "v2": ("batch", "v", 2), "v_text": ("batch", "v", "1"),
    "batch_extra": ("batch", "x", 1), "device_bad": ("batch", "device_id", "bad id"),
    "device_newline": ("batch", "device_id", "till-01\n"), "no_events": ("batch", "events", []),
    "events_obj": ("batch", "events", {"seq": 1}), "dup_seq": ("dup", None, None),
    "too_many": ("many", None, None), "more_text": ("batch", "more", "true"),
    "more_int": ("batch", "more", 1), "more_null": ("batch", "more", None),
}


def _mutated(doc: dict[str, Any], name: str | None) -> dict[str, Any]:
    if name is None:
        return doc
    where, key, value = _MUTATIONS[name]
    if where == "batch":
        doc[key] = value
    elif where == "event":
        doc["events"][0][key] = value
    elif where == "dup":
        doc["events"].append(dict(doc["events"][0]))
    else:
        doc["events"] = [{"seq": s, "ts_ms": 1, "type": "t"} for s in range(1, 1002)]
    return doc


_batch_docs = st.builds(_mutated, _valid_batches,
                        st.sampled_from([None] * 10 + sorted(_MUTATIONS)))


@settings(max_examples=500)
@given(_batch_docs, st.booleans())
def test_accepts_exactly_what_the_model_accepts_and_yields_its_events(
        doc: dict[str, Any], spaced: bool) -> None:
    payload = json.dumps(doc, separators=(", ", ": ") if spaced else (",", ":")).encode()
    try:
        model = codec.decode(EventBatch, payload)
    except codec.WireError as exc:
        with pytest.raises(codec.WireError) as again:
            decode_event_batch(payload)
        assert again.value.reason == exc.reason
        return
    batch = decode_event_batch(payload)
    assert batch.device_id == model.device_id and batch.seqs == model.seqs
    assert batch.more == model.more == doc.get("more", False)
    for (seq, ts_ms, kind, data), event in zip(batch.events, model.events, strict=True):
        assert (seq, ts_ms, kind) == (event.seq, event.ts_ms, event.type)
        assert json.loads(data) == event.data


def test_data_is_kept_as_the_terminal_wrote_it() -> None:
    payload = '{"device_id": "till-01", "events": [{"seq": 7, "ts_ms": 5, "type": "ad.touch", ' \
              '"data": {"name" : "ümlaut \\"q\\"",  "n": [1, 2.50]}}, ' \
              '{"seq": 8, "ts_ms": 6, "type": "ad.touch"}]}'
    batch = decode_event_batch(payload)
    assert batch.events == [(7, 5, "ad.touch", '{"name" : "ümlaut \\"q\\"",  "n": [1, 2.50]}'),
                            (8, 6, "ad.touch", "{}")]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_is_refused_before_it_can_reach_the_store(token: str) -> None:
    payload = ('{"device_id": "till-01", "events": [{"seq": 1, "ts_ms": 5, "type": "t", '
               f'"data": {{"x": {token}}}}}]}}')
    codec.decode(EventBatch, payload)  # pydantic's parser lets these through...
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):  # ...SQLite does not
        sqlite3.connect(":memory:").execute("SELECT json(?)", (f'{{"x": {token}}}',))
    with pytest.raises(codec.WireError) as refused:
        decode_event_batch(payload)
    assert refused.value.reason == "malformed_json"


def test_with_a_repeated_key_the_stored_events_are_the_acknowledged_ones() -> None:
    payload = ('{"device_id": "till-01", "events": [{"seq": 1, "ts_ms": 5, "type": "t"}], '
               '"events": [{"seq": 2, "ts_ms": 6, "type": "t"}]}')
    assert decode_event_batch(payload).events == [(2, 6, "t", "{}")]
    assert codec.decode(EventBatch, payload).seqs == [2]  # the model reads it the same way


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty"), (b"{", "malformed_json"), (b"[1]", "invalid"),
    (b'{"device_id": "till-01", "events": [{"seq": 1, "ts_ms": 5, "type": "t", '
     b'"data": {"x": "\xff"}}]}', "malformed_json"),
    (b'{"v": 3, "device_id": "till-01", "events": []}', "unsupported_version"),
    (b"x" * (codec.MAX_PAYLOAD_BYTES + 1), "oversized"),
])
def test_bad_payloads_get_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(codec.WireError) as refused:
        decode_event_batch(payload)
    assert refused.value.reason == reason
