"""The WeChat Pay API v3 signing and encryption rules, as pure helpers (no I/O, no clock).

- A merchant request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"`: an RSA-SHA256 (PKCS#1 v1.5) signature with the
  merchant's private key over `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`.
- A response or notification from WeChat carries `Wechatpay-Signature/-Timestamp/-Nonce/-Serial/
  -Signature-Type`: a signature with the platform private key over `TIMESTAMP\\nNONCE\\nBODY\\n`;
  `-Serial` names the platform key (a public key id `PUB_KEY_ID_…` in public key mode).
- A notification's `resource` is AES-256-GCM encrypted with the merchant's 32-byte APIv3 key
  (12-character nonce, `associated_data` authenticated, ciphertext‖tag in base64).

The sandbox verifies requests and signs responses with these; tests use them to forge or
tamper with messages. The production adapter relies on the `wechatpayv3` SDK instead.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
SIGNATURE_TYPE = AUTH_SCHEME
MAX_SKEW_S = 300  # a signed message older or newer than this is refused
AES_ALGORITHM = "AEAD_AES_256_GCM"
MAX_AUTHORIZATION_LEN = 2048
_AUTH_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
_PARAM = re.compile(r'\s*([a-z_]{1,32})="([^"\\\x00-\x1f]{0,1024})"\s*(?:,|\Z)')
_NONCE_ALPHABET = string.ascii_uppercase + string.digits

PrivateKey = rsa.RSAPrivateKey
PublicKey = rsa.RSAPublicKey


class AuthError(Exception):
    """A request whose Authorization cannot be accepted; `reason` is one short word."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class DecryptError(Exception):
    """An encrypted resource that does not decrypt under the APIv3 key (or is malformed)."""


@dataclass(frozen=True, slots=True)
class Authorization:
    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str

    @property
    def timestamp_s(self) -> int:
        return int(self.timestamp)


# -- keys ----------------------------------------------------------------------------------

def generate_private_key_pem() -> str:
    """A fresh RSA 2048 private key, PKCS#8 PEM (the format of WeChat's apiclient_key.pem)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_key_pem(private_pem: str) -> str:
    key = load_private_key(private_pem)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_private_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str) -> PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def generate_apiv3_key() -> str:
    """32 printable characters: the SDK uses the key's UTF-8 bytes as the AES-256 key."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def generate_public_key_id() -> str:
    """A platform public key id in WeChat's shape, `PUB_KEY_ID_` + 32 digits."""
    return "PUB_KEY_ID_0" + "".join(secrets.choice(string.digits) for _ in range(31))


def generate_serial_no() -> str:
    """A merchant API certificate serial number in WeChat's shape (40 hex digits)."""
    return secrets.token_hex(20).upper()


def new_nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


# -- signatures ----------------------------------------------------------------------------

def _bytes(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode()


def request_message(method: str, path: str, timestamp: str, nonce: str,
                    body: str | bytes) -> bytes:
    """What a merchant signs: `path` is the URL path with its `?query`, as sent."""
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode() + _bytes(body) + b"\n"


def response_message(timestamp: str, nonce: str, body: str | bytes) -> bytes:
    """What the platform signs in responses and notifications."""
    return f"{timestamp}\n{nonce}\n".encode() + _bytes(body) + b"\n"


def sign(private_key: PrivateKey, message: bytes) -> str:
    raw = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def verify(public_key: PublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def build_authorization(private_key: PrivateKey, *, mchid: str, serial_no: str, method: str,
                        path: str, body: str | bytes, timestamp_s: int,
                        nonce: str | None = None) -> str:
    nonce = nonce or new_nonce()
    signature = sign(private_key, request_message(method, path, str(timestamp_s), nonce, body))
    return (f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp_s}",serial_no="{serial_no}"')


def parse_authorization(value: str) -> Authorization:
    """Parse the header strictly: the scheme, then `key="value"` pairs separated by commas,
    each of the five fields exactly once (other keys are ignored). Raises `AuthError`."""
    if len(value) > MAX_AUTHORIZATION_LEN:
        raise AuthError("malformed", "header too long")
    scheme, _, params = value.strip().partition(" ")
    if scheme != AUTH_SCHEME:
        raise AuthError("unsupported_scheme", scheme[:40])
    fields: dict[str, str] = {}
    pos = 0
    if params.rstrip().endswith(","):
        raise AuthError("malformed", "trailing comma")
    while pos < len(params):
        m = _PARAM.match(params, pos)
        if m is None:
            raise AuthError("malformed", "bad parameter")
        pos = m.end()
        key, val = m.groups()
        if key in fields:
            raise AuthError("malformed", f"duplicate {key}")
        fields[key] = val
    missing = [f for f in _AUTH_FIELDS if not fields.get(f)]
    if missing:
        raise AuthError("malformed", "missing " + ",".join(missing))
    if not (fields["timestamp"].isascii() and fields["timestamp"].isdigit()
            and len(fields["timestamp"]) <= 12):
        raise AuthError("malformed", "bad timestamp")
    return Authorization(**{f: fields[f] for f in _AUTH_FIELDS})


def verify_request(header: str | None, *, method: str, path: str, body: str | bytes,
                   public_key_for: Callable[[str], PublicKey | None],
                   now_s: int, max_skew_s: int = MAX_SKEW_S) -> Authorization:
    """Check a merchant request; returns the parsed Authorization or raises `AuthError`."""
    if not header:
        raise AuthError("missing", "no Authorization header")
    auth = parse_authorization(header)
    if abs(now_s - auth.timestamp_s) > max_skew_s:
        raise AuthError("stale", f"timestamp {auth.timestamp} is more than {max_skew_s}s off")
    key = public_key_for(auth.mchid)
    if key is None:
        raise AuthError("unknown_merchant", auth.mchid)
    message = request_message(method, path, auth.timestamp, auth.nonce_str, body)
    if not verify(key, message, auth.signature):
        raise AuthError("bad_signature")
    return auth


def signed_headers(private_key: PrivateKey, serial: str, body: str | bytes, *, timestamp_s: int,
                   nonce: str | None = None) -> dict[str, str]:
    """The `Wechatpay-*` headers of a platform response or notification."""
    nonce = nonce or new_nonce()
    ts = str(timestamp_s)
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign(private_key, response_message(ts, nonce, body)),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def verify_signed(headers: Mapping[str, str], body: str | bytes, public_key: PublicKey, *,
                  now_s: int, max_skew_s: int = MAX_SKEW_S) -> bool:
    """Check `Wechatpay-*` headers (any header case), including the timestamp's age."""
    h = {k.lower(): v for k, v in headers.items()}
    ts = h.get("wechatpay-timestamp", "")
    if h.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        return False
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12) or abs(now_s - int(ts)) > max_skew_s:
        return False
    message = response_message(ts, h.get("wechatpay-nonce", ""), body)
    return verify(public_key, message, h.get("wechatpay-signature", ""))


# -- notification resource (AES-256-GCM) ---------------------------------------------------

def _aes(apiv3_key: str) -> AESGCM:
    key = apiv3_key.encode()
    if len(key) != 32:
        raise ValueError("the APIv3 key must be 32 bytes")
    return AESGCM(key)


def encrypt_resource(apiv3_key: str, plaintext: str, *, associated_data: str,
                     original_type: str, nonce: str | None = None) -> dict[str, str]:
    nonce = nonce or new_nonce(12)
    sealed = _aes(apiv3_key).encrypt(nonce.encode(), plaintext.encode(), associated_data.encode())
    return {"algorithm": AES_ALGORITHM, "ciphertext": base64.b64encode(sealed).decode(),
            "associated_data": associated_data, "original_type": original_type, "nonce": nonce}


def decrypt_resource(apiv3_key: str, resource: Mapping[str, object]) -> str:
    if resource.get("algorithm") != AES_ALGORITHM:
        raise DecryptError(f"unsupported algorithm {resource.get('algorithm')!r}")
    nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
    associated = resource.get("associated_data") or ""
    if not (isinstance(nonce, str) and isinstance(ciphertext, str)
            and isinstance(associated, str)):
        raise DecryptError("nonce, ciphertext and associated_data must be strings")
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        return _aes(apiv3_key).decrypt(nonce.encode(), raw, associated.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise DecryptError(type(e).__name__) from e
