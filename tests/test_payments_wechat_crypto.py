"""WeChat Pay v3 signing and encryption helpers: round trips, tampering, interoperability with
the wechatpayv3 SDK, and a hostile-input property test of the Authorization parser."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpayv3 import utils as sdk

from broker.payments import wechat_crypto as wc

NOW = 1_700_000_000
MCHID = "1900000109"
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


@pytest.fixture(scope="module")
def merchant_pem() -> str:
    return wc.generate_private_key_pem()


@pytest.fixture(scope="module")
def platform_pem() -> str:
    return wc.generate_private_key_pem()


def _lookup(pem: str):
    key = wc.load_public_key(wc.public_key_pem(pem))
    return lambda mchid: key if mchid == MCHID else None


def _auth(pem: str, *, method: str = "POST", path: str = "/v3/pay/transactions/native",
          body: str = '{"a":1}', ts: int = NOW, nonce: str = "NONCE1") -> str:
    return wc.build_authorization(wc.load_private_key(pem), mchid=MCHID, serial_no=SERIAL,
                                  method=method, path=path, body=body, timestamp_s=ts,
                                  nonce=nonce)


def _verify(pem: str, header: str | None, *, method: str = "POST",
            path: str = "/v3/pay/transactions/native", body: str = '{"a":1}',
            now: int = NOW) -> wc.Authorization:
    return wc.verify_request(header, method=method, path=path, body=body,
                             public_key_for=_lookup(pem), now_s=now)


def test_a_signed_request_verifies_and_names_its_merchant(merchant_pem: str) -> None:
    auth = _verify(merchant_pem, _auth(merchant_pem))
    assert (auth.mchid, auth.serial_no, auth.nonce_str, auth.timestamp_s) == \
        (MCHID, SERIAL, "NONCE1", NOW)


@pytest.mark.parametrize("change", [
    {"body": '{"a":2}'}, {"path": "/v3/pay/transactions/codepay"}, {"method": "GET"},
    {"path": "/v3/pay/transactions/native?mchid=1"},
])
def test_a_request_changed_after_signing_is_refused(merchant_pem: str, change: dict) -> None:
    with pytest.raises(wc.AuthError) as e:
        _verify(merchant_pem, _auth(merchant_pem), **change)
    assert e.value.reason == "bad_signature"


@pytest.mark.parametrize("field,value", [("timestamp", str(NOW + 1)), ("nonce_str", "NONCE2")])
def test_a_header_whose_timestamp_or_nonce_was_edited_is_refused(merchant_pem: str, field: str,
                                                                 value: str) -> None:
    header = re.sub(f'{field}="[^"]*"', f'{field}="{value}"', _auth(merchant_pem))
    with pytest.raises(wc.AuthError) as e:
        _verify(merchant_pem, header)
    assert e.value.reason == "bad_signature"


def test_stale_missing_and_foreign_requests_are_refused(merchant_pem: str,
                                                        platform_pem: str) -> None:
    with pytest.raises(wc.AuthError, match="stale"):
        _verify(merchant_pem, _auth(merchant_pem, ts=NOW - 301))
    with pytest.raises(wc.AuthError, match="stale"):
        _verify(merchant_pem, _auth(merchant_pem, ts=NOW + 301))
    assert _verify(merchant_pem, _auth(merchant_pem, ts=NOW - 300)).mchid == MCHID
    with pytest.raises(wc.AuthError, match="missing"):
        _verify(merchant_pem, None)
    with pytest.raises(wc.AuthError, match="bad_signature"):  # signed with another key
        _verify(merchant_pem, _auth(platform_pem))
    other = _auth(merchant_pem).replace(f'mchid="{MCHID}"', 'mchid="1900000999"')
    with pytest.raises(wc.AuthError, match="unknown_merchant"):
        _verify(merchant_pem, other)


def test_the_sdk_authorization_is_accepted(merchant_pem: str) -> None:
    """What `wechatpayv3` sends verifies here (real wall clock, its own nonce and JSON)."""
    import time

    body = {"mchid": MCHID, "amount": {"total": 1}}
    header = sdk.build_authorization("/v3/pay/transactions/native", "POST", MCHID, SERIAL,
                                     sdk.load_private_key(merchant_pem), data=body)
    auth = wc.verify_request(header, method="POST", path="/v3/pay/transactions/native",
                             body=json.dumps(body), public_key_for=_lookup(merchant_pem),
                             now_s=int(time.time()))
    assert auth.mchid == MCHID


def test_signed_responses_verify_here_and_in_the_sdk(platform_pem: str) -> None:
    key = wc.load_private_key(platform_pem)
    public = wc.load_public_key(wc.public_key_pem(platform_pem))
    body = '{"trade_state":"SUCCESS","desc":"支付成功"}'
    headers = wc.signed_headers(key, "PUB_KEY_ID_01", body, timestamp_s=NOW)
    assert headers["Wechatpay-Serial"] == "PUB_KEY_ID_01"
    assert wc.verify_signed(headers, body, public, now_s=NOW)
    assert wc.verify_signed({k.lower(): v for k, v in headers.items()}, body, public, now_s=NOW)
    assert sdk.rsa_verify(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body,
                          headers["Wechatpay-Signature"], public)
    assert not wc.verify_signed(headers, body.replace("SUCCESS", "CLOSED"), public, now_s=NOW)
    assert not wc.verify_signed({**headers, "Wechatpay-Nonce": "X"}, body, public, now_s=NOW)
    assert not wc.verify_signed({**headers, "Wechatpay-Timestamp": str(NOW - 1)}, body, public,
                                now_s=NOW)
    assert not wc.verify_signed(headers, body, public, now_s=NOW + 301)  # stale


def test_resource_encryption_round_trips_and_matches_the_sdk() -> None:
    key = wc.generate_apiv3_key()
    assert len(key.encode()) == 32
    sealed = wc.encrypt_resource(key, '{"out_trade_no":"o-1"}', associated_data="transaction",
                                 original_type="transaction")
    assert sealed["algorithm"] == "AEAD_AES_256_GCM" and len(sealed["nonce"]) == 12
    assert wc.decrypt_resource(key, sealed) == '{"out_trade_no":"o-1"}'
    assert sdk.aes_decrypt(sealed["nonce"], sealed["ciphertext"], sealed["associated_data"],
                           key) == '{"out_trade_no":"o-1"}'
    with pytest.raises(wc.DecryptError):
        wc.decrypt_resource(wc.generate_apiv3_key(), sealed)
    with pytest.raises(wc.DecryptError):
        wc.decrypt_resource(key, {**sealed, "associated_data": "refund"})
    raw = bytearray(base64.b64decode(sealed["ciphertext"]))
    raw[0] ^= 1
    with pytest.raises(wc.DecryptError):
        wc.decrypt_resource(key, {**sealed, "ciphertext": base64.b64encode(raw).decode()})
    with pytest.raises(wc.DecryptError):
        wc.decrypt_resource(key, {**sealed, "algorithm": "AES_128"})


def test_generated_identifiers_have_wechat_shapes(platform_pem: str) -> None:
    assert re.fullmatch(r"PUB_KEY_ID_\d{32}", wc.generate_public_key_id())
    assert re.fullmatch(r"[0-9A-F]{40}", wc.generate_serial_no())
    assert "BEGIN PRIVATE KEY" in platform_pem
    assert wc.load_public_key(wc.public_key_pem(platform_pem)).key_size == 2048


# -- the Authorization parser under hostile input ------------------------------------------

FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
safe = st.text(st.characters(codec="ascii", exclude_characters='"\\', min_codepoint=32),
               min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_either_parses_or_is_refused_as_auth_error(text: str) -> None:
    for candidate in (text, f"{wc.AUTH_SCHEME} {text}"):
        try:
            auth = wc.parse_authorization(candidate)
        except wc.AuthError as e:
            assert e.reason in ("malformed", "unsupported_scheme")
        else:
            assert auth.timestamp.isdigit()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*FIELDS, "extra", "MCHID"]),
                          st.one_of(safe, st.text(max_size=20))), max_size=8),
       st.sampled_from([",", ", ", " ,", ",,", ";"]))
def test_structured_hostile_headers_never_crash(pairs: list[tuple[str, str]], sep: str) -> None:
    header = f"{wc.AUTH_SCHEME} " + sep.join(f'{k}="{v}"' for k, v in pairs)
    try:
        auth = wc.parse_authorization(header)
    except wc.AuthError:
        return
    # accepted: exactly one of each field, none empty, timestamp digits
    names = [k for k, _ in pairs]
    assert all(names.count(f) == 1 for f in FIELDS)
    assert auth.timestamp.isdigit() and all(getattr(auth, f) for f in FIELDS)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({f: safe for f in FIELDS}),
       st.integers(min_value=0, max_value=10**11), st.permutations(FIELDS))
def test_well_formed_headers_parse_back_to_their_fields(values: dict[str, str], ts: int,
                                                        order: list[str]) -> None:
    values = {**values, "timestamp": str(ts)}
    header = f"{wc.AUTH_SCHEME} " + ",".join(f'{f}="{values[f]}"' for f in order)
    auth = wc.parse_authorization(header)
    assert {f: getattr(auth, f) for f in FIELDS} == values
