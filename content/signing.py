"""Ed25519 signing of manifests, and the key files behind it.

The controller holds the private key (PEM, mode 0600, in its data directory); every terminal
gets the public key with its credentials, as base64 text of the raw 32 bytes. A manifest is
accepted only when its signature verifies under a trusted key; `key_id` names the key so a
terminal can hold the old and the new key during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from content.manifest import Manifest, SignedManifest, canonical_bytes


class SignatureError(ValueError):
    """A manifest whose signature is missing, malformed, from an unknown key, or wrong."""


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def public_key_to_text(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw(public_key)).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SignatureError(f"not an Ed25519 public key: {exc}") from None


def sign_manifest(manifest: Manifest, private_key: Ed25519PrivateKey) -> SignedManifest:
    payload = canonical_bytes(manifest)
    signature = private_key.sign(payload)
    return SignedManifest(payload=payload.decode(), key_id=key_id(private_key.public_key()),
                          signature=base64.b64encode(signature).decode())


def verify_manifest(
    signed: SignedManifest, trusted: Ed25519PublicKey | Mapping[str, Ed25519PublicKey]
) -> Manifest:
    """Return the manifest if its signature verifies under a trusted key; else SignatureError."""
    keys = {key_id(trusted): trusted} if isinstance(trusted, Ed25519PublicKey) else trusted
    public_key = keys.get(signed.key_id)
    if public_key is None:
        raise SignatureError(f"manifest signed with unknown key {signed.key_id}")
    try:
        public_key.verify(base64.b64decode(signed.signature), signed.signed_bytes())
    except InvalidSignature:
        raise SignatureError("manifest signature does not verify") from None
    try:
        return signed.manifest
    except ValueError as exc:  # signed by us but not a manifest we understand
        raise SignatureError(f"signed payload is not a valid manifest: {exc}") from None


def save_private_key(private_key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as PEM, readable by the owner only; atomic (a crash leaves no half key)."""
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an Ed25519 private key")
    return key


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return load_private_key(path)
    key = generate_key()
    save_private_key(key, path)
    return key
