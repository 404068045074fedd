"""The generated Mosquitto setup against the real broker (Mosquitto 2.0, MQTT 5, paho 2.x)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.mosquitto import (
    BrokerConfig,
    BrokerError,
    ManagedBroker,
    find_mosquitto,
    free_port,
    generate_password,
)

try:
    from tests.mosquitto_fixtures import Peer, marker, wait_until
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from mosquitto_fixtures import Peer, marker, wait_until  # type: ignore[no-redef]


def _have_mosquitto() -> bool:
    try:
        find_mosquitto()
    except BrokerError:
        return False
    return True


pytestmark = [
    pytest.mark.broker,
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        not _have_mosquitto(), reason="mosquitto not installed (apt-get install mosquitto)"
    ),
]

A, B = "dev-aaa", "dev-bbb"
NOT_AUTHORIZED = 135


def _down(device: str, name: str = "cmd") -> str:
    return f"kiosk/v1/{device}/down/{name}"


def _up(device: str, name: str = "events") -> str:
    return f"kiosk/v1/{device}/up/{name}"


class Fleet:
    """A running broker with the controller and two terminals enrolled."""

    def __init__(self, broker: ManagedBroker, passwords: dict[str, str]) -> None:
        self.broker = broker
        self.passwords = passwords
        self._peers: list[Peer] = []

    def peer(self, user: str, password: str | None = None, **kw: str) -> Peer:
        p = Peer(self.broker.endpoint, user, password or self.passwords[user], **kw)
        self._peers.append(p)
        return p

    def online(self, user: str, *subscriptions: str) -> Peer:
        p = self.peer(user)
        assert not p.connect().is_failure
        for topic in subscriptions:
            assert not p.subscribe(topic).is_failure
        return p

    def close(self) -> None:
        for p in self._peers:
            p.close()
        self._peers.clear()


PASSWORDS = {user: generate_password() for user in ("controller", A, B)}


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedBroker]:
    cfg = BrokerConfig(port=free_port(), data_dir=tmp_path_factory.mktemp("mosq") / "data")
    broker = ManagedBroker(cfg)
    broker.set_users(PASSWORDS)
    with broker:
        yield broker


@pytest.fixture
def fleet(shared_broker: ManagedBroker) -> Iterator[Fleet]:
    f = Fleet(shared_broker, PASSWORDS)
    yield f
    f.close()


def _sync(fleet: Fleet, device: str, receiver: Peer) -> None:
    """Controller -> device marker; on return the receiver has everything sent before."""
    ctl = fleet.online("controller")
    token = marker()
    assert not ctl.publish(_down(device), token).is_failure
    receiver.wait_payload(token)


def test_terminal_cannot_publish_to_another_device(fleet: Fleet) -> None:
    b = fleet.online(B, f"kiosk/v1/{B}/down/#")
    observer = fleet.online("controller", f"kiosk/v1/{B}/#")
    a = fleet.online(A)
    assert a.publish(_up(B), b"forged event").value == NOT_AUTHORIZED
    assert a.publish(_down(B), b"forged command").value == NOT_AUTHORIZED
    _sync(fleet, B, b)
    observer.wait_payload(b.payloads()[-1])
    assert b"forged" not in b"".join(b.payloads() + observer.payloads())


def test_terminal_cannot_publish_to_its_own_down_topics(fleet: Fleet) -> None:
    a = fleet.online(A, f"kiosk/v1/{A}/down/#")
    assert a.publish(_down(A, "config"), b"self-config").value == NOT_AUTHORIZED
    _sync(fleet, A, a)
    assert b"self-config" not in a.payloads()


def test_terminal_receives_nothing_outside_its_own_down_topics(fleet: Fleet) -> None:
    ctl = fleet.online("controller")
    assert not ctl.publish(_down(B, "config"), b"B retained", retain=True).is_failure
    a = fleet.online(A)
    # Mosquitto 2.0's acl_file never checks SUBSCRIBE (the SUBACK grants the QoS); it
    # checks `read` on every delivered message. Either way nothing may arrive.
    for topic in (
        "kiosk/v1/#",
        f"kiosk/v1/{B}/down/#",
        "kiosk/v1/+/up/events",
        "#",
        f"$share/spy/kiosk/v1/{B}/down/#",
    ):
        a.subscribe(topic)
    b = fleet.online(B)
    assert not b.publish(_up(B), b"B event").is_failure
    assert not ctl.publish(_down(B), b"B command").is_failure
    _sync(fleet, A, a)
    assert all(t.startswith(f"kiosk/v1/{A}/down/") for t in a.topics()), a.topics()
    assert not {b"B retained", b"B event", b"B command"} & set(a.payloads())
    assert not ctl.publish(_down(B, "config"), b"", retain=True).is_failure  # clear


def test_terminal_and_controller_exchange_on_their_topics(fleet: Fleet) -> None:
    ctl = fleet.online("controller", "kiosk/v1/+/up/#")
    assert not ctl.publish(_down(A, "config"), b"A config", retain=True).is_failure
    a = fleet.online(A, f"kiosk/v1/{A}/down/#")
    assert a.wait_payload(b"A config").retain
    assert not a.publish(_up(A, "state"), b"A state").is_failure
    assert ctl.wait_payload(b"A state").topic == _up(A, "state")
    assert not ctl.publish(_down(A, "config"), b"", retain=True).is_failure


@pytest.mark.parametrize(("user", "password"), [(A, "wrong password"), ("dev-nobody", "x")])
def test_bad_credentials_are_refused_at_connect(fleet: Fleet, user: str, password: str) -> None:
    rc = fleet.peer(user, password).connect()
    assert rc.is_failure and rc.value in (134, NOT_AUTHORIZED), rc


def test_controller_shared_subscription_receives_events(fleet: Fleet) -> None:
    ctl = fleet.online("controller", "$share/g/kiosk/v1/+/up/events")
    a = fleet.online(A)
    assert not a.publish(_up(A), b"A event via share").is_failure
    assert ctl.wait_payload(b"A event via share").topic == _up(A)


def test_shared_group_splits_messages(fleet: Fleet) -> None:
    workers = [fleet.online("controller", "$share/split/kiosk/v1/+/up/events") for _ in "12"]
    a = fleet.online(A)
    sent = [f"event-{i}".encode() for i in range(20)]
    for payload in sent:
        assert not a.publish(_up(A), payload).is_failure

    def got() -> list[bytes]:
        return [p for w in workers for p in w.payloads() if p.startswith(b"event-")]

    assert wait_until(lambda: len(got()) >= len(sent))
    assert sorted(got()) == sorted(sent)  # every message once, to one member
    assert all(w.payloads() for w in workers), [len(w.payloads()) for w in workers]


def test_removed_user_is_dropped_and_refused_while_broker_runs(fleet: Fleet) -> None:
    broker = fleet.broker
    pid = broker.pid
    password = generate_password()
    broker.set_user("dev-ccc", password)  # reloads the running broker
    c = fleet.peer("dev-ccc", password)
    assert not c.connect().is_failure
    assert broker.remove_user("dev-ccc") and not broker.has_user("dev-ccc")
    assert c.wait_for(lambda: c.disconnect_reason is not None), "live session not dropped"
    assert fleet.peer("dev-ccc", password).connect().is_failure
    assert broker.running and broker.pid == pid
    assert not broker.remove_user("dev-ccc")


def test_password_change_applies_at_reload(fleet: Fleet) -> None:
    broker = fleet.broker
    broker.set_user("dev-ddd", "old password")
    live = fleet.peer("dev-ddd", "old password")
    assert not live.connect().is_failure
    broker.set_user("dev-ddd", "new password")
    # Mosquitto 2.0 re-checks connected clients at reload: the old session is dropped.
    assert live.wait_for(lambda: live.disconnect_reason is not None)
    assert fleet.peer("dev-ddd", "old password").connect().is_failure
    assert not fleet.peer("dev-ddd", "new password").connect().is_failure
    broker.remove_user("dev-ddd")


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[ManagedBroker]:
    broker = ManagedBroker(BrokerConfig(port=free_port(), data_dir=tmp_path / "data"))
    yield broker
    broker.stop()


def test_users_and_retained_config_survive_restarts(own_broker: ManagedBroker) -> None:
    own_broker.set_user("controller", "pc")  # before the first start: written, not reloaded
    own_broker.set_user(A, "pa")
    own_broker.start()
    ctl = Peer(own_broker.endpoint, "controller", "pc")
    assert not ctl.connect().is_failure
    assert not ctl.publish(_down(A, "config"), b"kept", retain=True).is_failure
    ctl.close()
    own_broker.restart()
    own_broker.kill()  # a crash after the clean restart: the password file is still the truth
    again = ManagedBroker(own_broker.config)  # a new owner of the same data directory
    assert again.users() == ["controller", A]
    with again:
        a = Peer(again.endpoint, A, "pa")
        assert not a.connect().is_failure
        a.subscribe(f"kiosk/v1/{A}/down/#")
        a.wait_payload(b"kept")  # saved at the clean stop of the restart
        a.close()


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_stop_kill_and_context_exit_leave_no_process(own_broker: ManagedBroker) -> None:
    with own_broker:
        pid = own_broker.pid
        assert pid and own_broker.running
    assert pid and _gone(pid) and not own_broker.running
    own_broker.start()
    pid = own_broker.pid
    own_broker.kill()
    assert pid and _gone(pid) and own_broker.pid is None


def test_atexit_safety_net_stops_a_forgotten_broker(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from broker.mosquitto import BrokerConfig, ManagedBroker, free_port
        b = ManagedBroker(BrokerConfig(port=free_port(), data_dir=Path({str(tmp_path)!r})))
        b.start()
        print(b.pid, flush=True)
    """)  # exits without stop()
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert _gone(int(out.stdout.strip()))


def test_start_fails_with_log_tail(tmp_path: Path, own_broker: ManagedBroker) -> None:
    own_broker.start()
    clash = ManagedBroker(BrokerConfig(port=own_broker.config.port, data_dir=tmp_path / "x"))
    with pytest.raises(BrokerError, match="already in use"):
        clash.start()
    bad = BrokerConfig(
        port=free_port(),
        data_dir=tmp_path / "y",
        tls_port=free_port(),
        tls_cert=tmp_path / "missing.pem",
        tls_key=tmp_path / "missing.key",
    )
    with pytest.raises(BrokerError, match=r"exited with code \d+ while starting") as err:
        ManagedBroker(bad).start()
    assert "Unable to load server certificate" in str(err.value)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_tls_listener(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    cfg = BrokerConfig(
        port=free_port(),
        data_dir=tmp_path / "data",
        tls_port=free_port(),
        tls_cert=cert,
        tls_key=key,
    )
    broker = ManagedBroker(cfg)
    broker.set_user("controller", "pc")
    with broker:
        secure = Peer(broker.endpoint, "controller", "pc", tls_ca=str(cert))
        assert not secure.connect().is_failure
        assert not secure.publish(_down(A), b"over tls").is_failure
        secure.close()


def test_terminal_cannot_take_over_another_terminals_session(fleet: Fleet) -> None:
    """Terminal listeners force client id = username: reusing B's client id kicks no one."""
    victim = fleet.peer("dev-bbb", client_id="dev-bbb")
    assert not victim.connect().is_failure
    impostor = fleet.peer("dev-aaa", client_id="dev-bbb")
    assert not impostor.connect().is_failure
    # B is still connected and still receives its own downstream messages.
    assert victim.subscribe("kiosk/v1/dev-bbb/down/#") is not None
    ctl = fleet.peer("controller")
    assert not ctl.connect().is_failure
    ctl.publish("kiosk/v1/dev-bbb/down/cmd", b"still-here")
    victim.wait_payload(b"still-here")
    assert victim.disconnect_reason is None


def test_controller_workers_share_a_username_without_kicking_each_other(fleet: Fleet) -> None:
    one, two = fleet.peer("controller"), fleet.peer("controller")
    assert not one.connect().is_failure and not two.connect().is_failure
    assert not one.wait_for(lambda: one.disconnect_reason is not None, timeout=0.3)
