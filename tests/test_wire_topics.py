import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.wire.topics import (
    Channel,
    TopicError,
    device_topic,
    is_valid_device_id,
    parse_topic,
    shared,
    wildcard,
)


def test_round_trip_every_channel() -> None:
    for ch in Channel:
        assert parse_topic(device_topic("store-12-t1", ch)) == ("store-12-t1", ch)


@pytest.mark.parametrize(
    "topic",
    [
        "kiosk/v2/dev-1/up/events",
        "kiosk/v1/dev-1",
        "kiosk/v1/dev-1/up/nothing",
        "kiosk/v1/+/up/events",
        "kiosk/v1/#",
        "kiosk/v1/controller/up/events",
        "kiosk/v1/DEV/up/events",
        "",
    ],
)
def test_rejects_topics_outside_the_contract(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)


def test_device_ids_cannot_smuggle_wildcards_or_levels() -> None:
    for bad in ["a/b", "ab+", "ab#", "x", "controller", "-abc", "a" * 64]:
        assert not is_valid_device_id(bad)
        with pytest.raises(TopicError):
            device_topic(bad, Channel.EVENTS)


def test_subscription_filters() -> None:
    assert wildcard(Channel.EVENTS) == "kiosk/v1/+/up/events"
    assert shared("controllers", wildcard(Channel.EVENTS)) == (
        "$share/controllers/kiosk/v1/+/up/events"
    )
    with pytest.raises(TopicError):
        shared("bad/group", "x")


@given(st.text(max_size=200))
def test_parse_topic_never_crashes(topic: str) -> None:
    try:
        device, channel = parse_topic(topic)
    except TopicError:
        return
    assert device_topic(device, channel) == topic
