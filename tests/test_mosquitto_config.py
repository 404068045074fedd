"""mosquitto.conf and ACL rendering (pure)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import broker.mosquitto.binary as binary
from broker.mosquitto import (
    BrokerConfig,
    BrokerError,
    BrokerFiles,
    PasswordFormatError,
    atomic_write_text,
    find_mosquitto,
    hash_password,
    render_acl,
    render_conf,
)

DATA = Path("/srv/kiosk/mosquitto")
FILES = {
    "password_file": DATA / "passwd",
    "acl_file": DATA / "acl",
    "log_file": DATA / "mosquitto.log",
}


def _directives(text: str) -> list[tuple[str, str]]:
    """(option, value) pairs as Mosquitto reads them: comments and blank lines skipped."""
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            option, _, value = line.partition(" ")
            pairs.append((option, value))
    return pairs


def _conf(run_as_user: str | None = None, **overrides: object) -> dict[str, list[str]]:
    settings: dict[str, object] = {"port": 18830, "data_dir": DATA, **overrides}
    cfg = BrokerConfig(**settings)  # type: ignore[arg-type]
    out: dict[str, list[str]] = {}
    for option, value in _directives(render_conf(cfg, run_as_user=run_as_user, **FILES)):
        out.setdefault(option, []).append(value)
    return out


def test_acl_confines_terminals_and_lets_the_controller_do_everything() -> None:
    rules = _directives(render_acl())
    assert rules == [
        ("pattern", "write kiosk/v1/%u/up/#"),
        ("pattern", "read kiosk/v1/%u/down/#"),
        ("user", "controller"),
        ("topic", "readwrite kiosk/v1/#"),
        ("topic", "read $SYS/#"),
    ]
    assert ("user", "ctl_main") in _directives(render_acl("ctl_main"))


@pytest.mark.parametrize("name", ["", "two words", "ctl#", "ctl/x", "x" * 65, "store-ctl-1"])
def test_acl_rejects_unsafe_controller_names(name: str) -> None:
    # "store-ctl-1" is a valid device id: that terminal would get the controller's rights.
    with pytest.raises(ValueError):
        render_acl(name)


def test_conf_secures_and_persists() -> None:
    conf = _conf()
    text = render_conf(BrokerConfig(port=18830, data_dir=DATA), run_as_user=None, **FILES)
    assert _directives(text)[0] == ("per_listener_settings", "false")  # before any listener
    assert conf["allow_anonymous"] == ["false"]
    assert conf["password_file"] == [str(DATA / "passwd")]
    assert conf["acl_file"] == [str(DATA / "acl")]
    assert conf["listener"] == ["18830 127.0.0.1"]
    assert conf["persistence"] == ["true"]
    assert conf["persistence_location"] == [str(DATA)]
    assert conf["max_queued_messages"] == ["10000"]
    assert conf["max_inflight_messages"] == ["100"]
    assert conf["log_dest"] == [f"file {DATA / 'mosquitto.log'}"]
    assert conf["log_timestamp"] == ["true"]
    assert "information" in conf["log_type"]
    assert "user" not in conf
    assert "certfile" not in conf


def test_conf_user_option_for_running_as_root() -> None:
    assert _conf(run_as_user="root")["user"] == ["root"]
    with pytest.raises(ValueError):
        _conf(run_as_user="root\nallow_anonymous true")


def test_conf_without_persistence_and_with_limits() -> None:
    conf = _conf(
        persistence=False,
        message_size_limit=0,
        max_queued_messages=5,
        persistent_client_expiration=None,
    )
    assert conf["persistence"] == ["false"]
    assert "persistence_location" not in conf and "persistent_client_expiration" not in conf
    assert conf["message_size_limit"] == ["0"] and conf["max_queued_messages"] == ["5"]


def test_conf_tls_listener() -> None:
    conf = _conf(
        tls_port=8883,
        tls_cert=DATA / "c.pem",
        tls_key=DATA / "k.pem",
        tls_cafile=DATA / "ca.pem",
        require_client_certificate=True,
    )
    assert conf["listener"] == ["18830 127.0.0.1", "8883 127.0.0.1"]
    assert conf["certfile"] == [str(DATA / "c.pem")] and conf["keyfile"] == [str(DATA / "k.pem")]
    assert conf["cafile"] == [str(DATA / "ca.pem")]
    assert conf["require_certificate"] == ["true"]
    assert conf["tls_version"] == ["tlsv1.2"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"port": 0},
        {"port": 70000},
        {"tls_port": 8883},  # no cert/key
        {"tls_cert": DATA / "c.pem", "tls_key": DATA / "k.pem"},  # no tls_port
        {"tls_port": 18830, "tls_cert": DATA / "c.pem", "tls_key": DATA / "k.pem"},
        {
            "require_client_certificate": True,
            "tls_port": 8883,
            "tls_cert": DATA / "c.pem",
            "tls_key": DATA / "k.pem",
        },  # no cafile
        {"max_queued_messages": -1},
        {"autosave_interval": 0},
        {"persistent_client_expiration": "30 days"},
        {"log_types": ("verbose",)},
        {"log_types": ()},
        {"host": "127.0.0.1 9999"},
    ],
)
def test_config_rejects_inconsistent_settings(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _conf(**overrides)


def test_conf_needs_absolute_single_line_paths() -> None:
    cfg = BrokerConfig(port=18830, data_dir=DATA)
    with pytest.raises(ValueError, match="absolute"):
        render_conf(cfg, run_as_user=None, **{**FILES, "acl_file": Path("acl")})
    with pytest.raises(ValueError, match="unusable"):
        render_conf(cfg, run_as_user=None, **{**FILES, "acl_file": DATA / "a\nuser root"})


# Below: the small file/process helpers that need no mosquitto binary.


def test_find_mosquitto_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(binary, "_SEARCH_DIRS", ())
    with pytest.raises(BrokerError, match=r"apt-get install mosquitto"):
        find_mosquitto()


def test_user_files_are_private_and_kept(tmp_path: Path) -> None:
    files = BrokerFiles(tmp_path / "data")
    files.write_users({"dev-aaa": hash_password("pa")})
    files.write_all(conf="# conf\n", acl=render_acl())
    assert stat.S_IMODE(files.password_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.data_dir.stat().st_mode) == 0o700
    assert list(files.read_users()) == ["dev-aaa"]  # write_all keeps existing users
    assert files.acl_path.read_text() == render_acl()
    assert not [p.name for p in files.data_dir.iterdir() if p.name.endswith(".tmp")]


def test_write_all_refuses_a_corrupt_password_file(tmp_path: Path) -> None:
    files = BrokerFiles(tmp_path)
    files.password_path.write_text("dev-aaa:plaintext\n")
    with pytest.raises(PasswordFormatError, match="line 1"):
        files.write_all(conf="", acl="")


def test_atomic_write_replaces_whole_file_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("old")
    atomic_write_text(target, "new", mode=0o600)
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o600
