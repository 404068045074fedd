"""Manifest signatures and key files: what makes a terminal accept or refuse a package."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from content.manifest import MEDIA_TYPES, FileEntry, Manifest, SignedManifest, canonical_bytes
from content.signing import (
    SignatureError,
    generate_key,
    key_id,
    load_or_create_private_key,
    load_private_key,
    public_key_from_text,
    public_key_to_text,
    save_private_key,
    sign_manifest,
    verify_manifest,
)

KEY = generate_key()
OTHER_KEY = generate_key()

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True)
hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)


@st.composite
def entries(draw: st.DrawFn, name: str) -> FileEntry:
    media_type = draw(st.sampled_from(MEDIA_TYPES))
    video = media_type.startswith("video/")
    return FileEntry(name=name, sha256=draw(hexes), size=draw(st.integers(1, 2 * 1024**3)),
                     media_type=media_type, width=draw(st.integers(1, 16384)),
                     height=draw(st.integers(1, 16384)),
                     duration_ms=draw(st.integers(1, 10**9)) if video else None)


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    file_names = draw(st.lists(names, max_size=6, unique=True))
    return Manifest(package_id=draw(st.from_regex(r"[A-Za-z0-9_.-]{1,40}", fullmatch=True)),
                    created_ms=draw(st.integers(0, 2**53)),
                    files=[draw(entries(n)) for n in file_names])


@settings(max_examples=60, deadline=None)
@given(manifests())
def test_sign_verify_round_trip_survives_reserialisation(manifest: Manifest) -> None:
    signed = sign_manifest(manifest, KEY)
    assert verify_manifest(signed, KEY.public_key()) == manifest
    # What a terminal receives is JSON, possibly re-ordered and re-indented on the way.
    doc = orjson.loads(signed.model_dump_json())
    shuffled = orjson.dumps(dict(reversed(list(doc.items()))), option=orjson.OPT_INDENT_2)
    received = SignedManifest.model_validate_json(shuffled)
    assert canonical_bytes(received.manifest) == canonical_bytes(manifest)
    assert verify_manifest(received, KEY.public_key()) == manifest


@settings(max_examples=60, deadline=None)
@given(manifests(), st.data())
def test_any_change_to_a_signed_manifest_breaks_the_signature(manifest: Manifest,
                                                             data: st.DataObject) -> None:
    signed = sign_manifest(manifest, KEY)
    if manifest.files:
        i = data.draw(st.integers(0, len(manifest.files) - 1))
        entry = manifest.files[i]
        changed = entry.model_copy(update={"size": entry.size % (2 * 1024**3) + 1})
        files = [*manifest.files[:i], changed, *manifest.files[i + 1:]]
        tampered = manifest.model_copy(update={"files": files})
    else:
        tampered = manifest.model_copy(update={"created_ms": manifest.created_ms + 1})
    forged = SignedManifest(payload=canonical_bytes(tampered).decode(), key_id=signed.key_id,
                            signature=signed.signature)
    with pytest.raises(SignatureError):
        verify_manifest(forged, KEY.public_key())


def test_unknown_key_and_key_rotation() -> None:
    manifest = Manifest(package_id="p", created_ms=0, files=[])
    signed = sign_manifest(manifest, OTHER_KEY)
    with pytest.raises(SignatureError, match="unknown key"):
        verify_manifest(signed, KEY.public_key())
    both = {key_id(k.public_key()): k.public_key() for k in (KEY, OTHER_KEY)}
    assert verify_manifest(signed, both) == manifest
    # A key id that names a trusted key but a signature made by another key
    lying = signed.model_copy(update={"key_id": key_id(KEY.public_key())})
    with pytest.raises(SignatureError, match="does not verify"):
        verify_manifest(lying, KEY.public_key())


def test_malformed_signatures_are_refused_by_the_model() -> None:
    manifest = Manifest(package_id="p", created_ms=0, files=[])
    signed = sign_manifest(manifest, KEY)
    doc = orjson.loads(signed.model_dump_json())
    for field, value in (("signature", "AAAA"), ("key_id", "XYZ"), ("signature", "")):
        with pytest.raises(ValidationError):
            SignedManifest.model_validate({**doc, field: value})


def test_public_key_text_round_trip() -> None:
    public = KEY.public_key()
    text = public_key_to_text(public)
    assert key_id(public_key_from_text(text)) == key_id(public)
    for bad in ("not base64!", "AAAA", ""):
        with pytest.raises(SignatureError):
            public_key_from_text(bad)


def test_private_key_files(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    save_private_key(KEY, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(load_private_key(path).public_key()) == key_id(KEY.public_key())
    created = load_or_create_private_key(tmp_path / "new.pem")
    again = load_or_create_private_key(tmp_path / "new.pem")
    assert key_id(created.public_key()) == key_id(again.public_key())
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    (tmp_path / "ec.pem").write_bytes(ec_pem)
    with pytest.raises(SignatureError):
        load_private_key(tmp_path / "ec.pem")
