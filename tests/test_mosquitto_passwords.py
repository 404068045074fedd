"""Password hashing and password files, checked against mosquitto_passwd where installed."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.mosquitto import (
    PasswordFormatError,
    generate_password,
    hash_password,
    parse_password_file,
    render_password_file,
    verify_password,
)

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
needs_passwd_tool = pytest.mark.skipif(
    MOSQUITTO_PASSWD is None, reason="mosquitto_passwd not installed (apt-get install mosquitto)"
)
HASH7 = re.compile(r"^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$")
# Written by mosquitto_passwd 2.0.11: `mosquitto_passwd -c -b pw alice secret` and
# `mosquitto_passwd -H sha512 -c -b pw bob pw`.
ALICE = (
    "$7$101$oBhnXkpcyJlN/Mb7$LR+Wf4m2DZDx7owfSiGoQgk69WlbpEDT9+iogZKCiCH0C9+dO7jFKFOFMRFZWyYitC2"
    "Vfaj0OLNwvA0za/FUTQ=="
)
BOB_SHA512 = (
    "$6$uygVdb1zfrlVMukv$pcPq0Oo4FwKhXCme/N8LZhO0GQCCxEqnmLq4M01j39feJX0UuAjjTloxj8VaetM7xQ6a/iIG"
    "GgWYhK73cqG+nQ=="
)


def test_hash_has_mosquitto_2_format_and_verifies() -> None:
    hashed = hash_password("s3cret")
    assert HASH7.match(hashed), hashed
    assert verify_password("s3cret", hashed)
    assert not verify_password("s3cret ", hashed)
    assert hash_password("s3cret") != hashed  # fresh salt each time


def test_known_mosquitto_passwd_lines_verify() -> None:
    assert verify_password("secret", ALICE) and not verify_password("Secret", ALICE)
    assert verify_password("pw", BOB_SHA512) and not verify_password("pw2", BOB_SHA512)
    salt = base64.b64decode(ALICE.split("$")[3])
    assert hash_password("secret", salt=salt, iterations=101) == ALICE


@needs_passwd_tool
@pytest.mark.parametrize("password", ["secret", "ünïcode pässwörd", "a:b$c#d"])
def test_hash_matches_what_mosquitto_passwd_writes(tmp_path: Path, password: str) -> None:
    pw_file = tmp_path / "passwd"
    assert MOSQUITTO_PASSWD is not None
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", str(pw_file), "dev-aaa", password], check=True)
    hashed = parse_password_file(pw_file.read_text())["dev-aaa"]
    assert verify_password(password, hashed)
    salt = base64.b64decode(hashed.split("$")[3])
    assert hash_password(password, salt=salt) == hashed


@needs_passwd_tool
def test_mosquitto_passwd_edits_our_file(tmp_path: Path) -> None:
    pw_file = tmp_path / "passwd"
    pw_file.write_text(render_password_file({"dev-aaa": hash_password("pa")}))
    assert MOSQUITTO_PASSWD is not None
    subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw_file), "dev-bbb", "pb"], check=True)
    users = parse_password_file(pw_file.read_text())
    assert verify_password("pa", users["dev-aaa"]) and verify_password("pb", users["dev-bbb"])


def test_hash_options_and_errors() -> None:
    hashed = hash_password("x", iterations=1000, salt=b"0123456789ab")
    assert hashed.startswith("$7$1000$MDEyMzQ1Njc4OWFi$") and verify_password("x", hashed)
    with pytest.raises(ValueError):
        hash_password("x", iterations=0)
    with pytest.raises(ValueError):
        hash_password("x", salt=b"")
    for bad in ("plain", "$7$101$salt", "$5$abc$def", "$7$x$YWJj$YWJj", "$7$101$!!!$YWJj"):
        with pytest.raises(PasswordFormatError):
            verify_password("x", bad)


def test_generated_passwords_are_long_and_distinct() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in passwords)


def test_render_is_sorted_one_line_per_user() -> None:
    h1, h2 = hash_password("1"), hash_password("2")
    assert render_password_file({"zeta": h1, "alpha": h2}) == f"alpha:{h2}\nzeta:{h1}\n"
    assert render_password_file({}) == ""
    for bad_user in ("", "a:b", "a b", "dev/x", "dev+", "dev#", "tab\t"):
        with pytest.raises(PasswordFormatError):
            render_password_file({bad_user: h1})
    with pytest.raises(PasswordFormatError, match="user 'alpha'"):
        render_password_file({"alpha": "not-a-hash"})


def test_parse_skips_blank_lines_and_comments_and_crlf() -> None:
    text = f"\n# users\r\n  \ndev-aaa:{ALICE}\r\n   # indented comment\ndev-bbb:{BOB_SHA512}"
    assert parse_password_file(text) == {"dev-aaa": ALICE, "dev-bbb": BOB_SHA512}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dev-aaa\n", r"line 1: expected 'username:hash'"),
        (f"ok:{ALICE}\ndev-aaa:plaintext\n", r"line 2: not a Mosquitto password hash"),
        (f"a:{ALICE}\n\na:{ALICE}\n", r"line 3: duplicate user 'a'"),
        (f":{ALICE}\n", r"line 1: empty username"),
        (f"dev aaa:{ALICE}\n", r"line 1: username 'dev aaa' contains ' '"),
        (f"dev-aaa:{ALICE} \n", r"line 1: not a Mosquitto password hash"),
    ],
)
def test_parse_rejects_malformed_lines(text: str, message: str) -> None:
    with pytest.raises(PasswordFormatError, match=message):
        parse_password_file(text)


_B64 = st.binary(min_size=1, max_size=64).map(lambda b: base64.b64encode(b).decode())
_HASHES = st.one_of(
    st.builds(lambda i, s, d: f"$7${i}${s}${d}", st.integers(1, 10**6), _B64, _B64),
    st.builds(lambda s, d: f"$6${s}${d}", _B64, _B64),
)
_USERNAMES = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters=":+#/\x85"
    ),
    min_size=1,
    max_size=40,
)


@given(st.dictionaries(_USERNAMES, _HASHES, max_size=20))
def test_parse_inverts_render(users: dict[str, str]) -> None:
    assert parse_password_file(render_password_file(users)) == users
