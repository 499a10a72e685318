"""RFC 9421 signatures on every federation hop (CONTRACT §3; RELIABILITY rules 12-13;
F10, F23, F24, F25)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from federation import httpsig, keys
from federation.httpsig import HttpSignatureError, MemoryNonceCache, sign_request, verify_request

DATA = Path(__file__).parent / "data" / "rfc9421"
NOW = 1_760_000_000.0
URL = "http://127.0.0.1:8315/federation/v1/batch"
BODY = json.dumps({"documents": [{"id": "C-1", "amount": "12.50"}]}).encode()
SENDER = keys.generate_keypair("440305#1")
OTHER = keys.generate_keypair("440300#1")
KNOWN = {pair.key_id: pair.public_b64 for pair in (SENDER, OTHER)}


def _cache() -> MemoryNonceCache:
    return MemoryNonceCache(clock=lambda: NOW)


def _verify(
    headers: dict[str, str],
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    now: float = NOW,
    cache: MemoryNonceCache | None = None,
) -> httpsig.VerifiedRequest:
    return verify_request(
        method, url, headers, body, KNOWN.get, now, nonce_cache=_cache() if cache is None else cache
    )


def _refused(code: str, headers: dict[str, str], **kwargs: Any) -> HttpSignatureError:
    with pytest.raises(HttpSignatureError) as info:
        _verify(headers, **kwargs)
    assert (info.value.status, info.value.code) == (401, code), info.value.message
    return info.value


def _signed(now: float = NOW, **kwargs: Any) -> dict[str, str]:
    return sign_request("POST", URL, {}, BODY, SENDER, now, **kwargs)


# --- an independent, minimal RFC 9421 implementation (no http_message_signatures) ------------


def _indep_base(
    method: str, url: str, fields: dict[str, str], components: list[str], params: str
) -> bytes:
    parts = urlsplit(url)
    derived = {
        "@method": method.upper(),
        "@target-uri": url,
        "@authority": parts.netloc.lower(),
        "@path": parts.path or "/",
    }
    lower = {name.lower(): value.strip() for name, value in fields.items()}
    lines = [
        f'"{name}": {derived[name] if name.startswith("@") else lower[name]}' for name in components
    ]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode("ascii")


def _indep_parse(headers: dict[str, str]) -> tuple[list[str], str, dict[str, str], bytes]:
    label, _, value = headers["Signature-Input"].partition("=")
    match = re.fullmatch(r"\(([^)]*)\)(.*)", value)
    assert match is not None
    components = re.findall(r'"([^"]+)"', match.group(1))
    params = {k: v.strip('"') for k, v in re.findall(r';([a-z]+)=("[^"]*"|[0-9]+)', match.group(2))}
    sig_label, _, sig_value = headers["Signature"].partition("=")
    assert sig_label == label and sig_value.startswith(":") and sig_value.endswith(":")
    return components, value, params, base64.b64decode(sig_value[1:-1])


def _indep_verify(
    method: str, url: str, headers: dict[str, str], body: bytes, public: Ed25519PublicKey
) -> dict[str, str]:
    components, params_value, params, signature = _indep_parse(headers)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["Content-Digest"] == f"sha-256=:{digest}:"
    public.verify(signature, _indep_base(method, url, headers, components, params_value))
    return params


def _indep_sign(
    method: str,
    url: str,
    body: bytes,
    private: Ed25519PrivateKey,
    params: str,
    *,
    components: tuple[str, ...] = ("@method", "@target-uri", "content-digest"),
    label: str = "indep",
    content_digest: str | None = None,
) -> dict[str, str]:
    if content_digest is None:
        content_digest = (
            "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        )
    fields = {"Content-Digest": content_digest}
    params_value = "(" + " ".join(f'"{c}"' for c in components) + ")" + params
    signature = private.sign(_indep_base(method, url, fields, list(components), params_value))
    return {
        **fields,
        "Signature-Input": f"{label}={params_value}",
        "Signature": f"{label}=:{base64.b64encode(signature).decode()}:",
    }


# --- F25 ---------------------------------------------------------------------------------


def test_f25_rfc9421_b26_vector() -> None:
    vector = json.loads((DATA / "rfc9421_b26_vector.json").read_text())
    private = load_pem_private_key((DATA / "test-key-ed25519.private.pem").read_bytes(), None)
    public = load_pem_public_key((DATA / "test-key-ed25519.public.pem").read_bytes())
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)
    request, b26 = vector["test_request"], vector["b26"]

    signed = httpsig.sign_components(
        request["method"],
        request["url"],
        dict(request["headers"]),
        private=private,
        key_id=vector["key"]["keyid"],
        covered=tuple(b26["covered_components"]),
        label=b26["label"],
        created=b26["created"],
        include_alg=False,
    )

    assert signed.signature_base.decode() == b26["signature_base"]
    assert signed.signature_input == b26["signature_input_header"]
    assert signed.signature == b26["signature_header"]  # Ed25519 is deterministic
    public.verify(base64.b64decode(b26["signature_header"].split(":")[1]), signed.signature_base)
    # The independent builder below agrees with the RFC too, so it is a fair referee.
    components, params_value, _, _ = _indep_parse(
        {"Signature-Input": b26["signature_input_header"], "Signature": b26["signature_header"]}
    )
    indep = _indep_base(
        request["method"], request["url"], dict(request["headers"]), components, params_value
    )
    assert indep.decode() == b26["signature_base"]


def test_f25_independent_verifier() -> None:
    headers = _signed()
    params = _indep_verify("POST", URL, headers, BODY, SENDER.private.public_key())
    assert params["keyid"] == "440305#1" and params["alg"] == "ed25519"
    assert int(params["expires"]) - int(params["created"]) == 60
    assert len(base64.urlsafe_b64decode(params["nonce"] + "==")) == 16

    # And the other way: our verifier accepts what the independent signer made, with its own
    # label, parameter order and an extra digest algorithm.
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    sha256 = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    indep = _indep_sign(
        "POST",
        URL,
        BODY,
        SENDER.private,
        f';keyid="440305#1";nonce="n-123";alg="ed25519";created={int(NOW) - 30}',
        content_digest=f"sha-512=:{sha512}:, sha-256=:{sha256}:",
    )
    verified = _verify(indep)
    assert verified == httpsig.VerifiedRequest("440305#1", "440305", int(NOW) - 30, "n-123")


# --- the happy path and the request hook ------------------------------------------------------


def test_sign_and_verify() -> None:
    verified = _verify(_signed())
    assert (verified.key_id, verified.node_code, verified.created) == ("440305#1", "440305", NOW)


def test_get_with_empty_body() -> None:
    url = "http://127.0.0.1:8315/federation/v1/pull?channel=cases&after=41"
    headers = sign_request("get", url, {}, b"", SENDER, NOW)
    assert _verify(headers, method="GET", url=url, body=b"").key_id == "440305#1"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8315/federation/v1/batch",
        "http://127.0.0.1:8315/federation/v1/batch?",
        "http://127.0.0.1:8315/federation/v1/pull?channel=cases&after=41",
    ],
)
def test_request_signer_matches_server_url(url: str) -> None:
    werkzeug_test = pytest.importorskip("werkzeug.test")
    werkzeug_wrappers = pytest.importorskip("werkzeug.wrappers")
    prepared = requests.Request(
        "POST", url, data="投诉".encode(), auth=httpsig.RequestSigner(SENDER, clock=lambda: NOW)
    ).prepare()
    # What the receiving node's Flask/werkzeug request reports as its URL.
    parts = urlsplit(prepared.url)
    environ = werkzeug_test.EnvironBuilder(
        method="POST",
        base_url=f"{parts.scheme}://{parts.netloc}",
        path=parts.path,
        query_string=parts.query,
        headers=dict(prepared.headers),
        data=prepared.body,
    ).get_environ()
    server = werkzeug_wrappers.Request(environ)
    verified = verify_request(
        server.method,
        server.url,
        server.headers,
        server.get_data(),
        KNOWN.get,
        NOW,
        nonce_cache=_cache(),
    )
    assert verified.key_id == "440305#1"


def test_request_signer_encodes_str_body() -> None:
    prepared = requests.Request(
        "POST", URL, data="投诉 json", auth=httpsig.RequestSigner(SENDER, clock=lambda: NOW)
    ).prepare()
    assert prepared.body == "投诉 json".encode()
    assert _verify(dict(prepared.headers), body="投诉 json".encode()).key_id == "440305#1"


# --- refusals ------------------------------------------------------------------------------


def test_f24_body_changed_under_valid_signature() -> None:
    headers = _signed()
    error = _refused("digest_mismatch", headers, body=BODY.replace(b"12.50", b"99.50"))
    assert "body does not match its Content-Digest" in error.message
    # Recomputing the digest for the new body breaks the signature instead.
    forged = {**headers, "Content-Digest": httpsig.content_digest(b"{}")}
    _refused("bad_signature", forged, body=b"{}")


def test_missing_content_digest() -> None:
    headers = _signed()
    del headers["Content-Digest"]
    _refused("digest_mismatch", headers)


def test_digest_without_sha256() -> None:
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    headers = _indep_sign(
        "POST",
        URL,
        BODY,
        SENDER.private,
        f';created={int(NOW)};keyid="440305#1";nonce="n1"',
        content_digest=f"sha-512=:{sha512}:",
    )
    assert "no sha-256" in _refused("digest_mismatch", headers).message


def test_f23_replayed_request_refused() -> None:
    cache = _cache()
    headers = _signed()
    _verify(headers, cache=cache)
    error = _refused("replayed", headers, cache=cache)
    assert "nonce already used" in error.message
    # Captured and replayed ten minutes later, it is too old before the nonce is even looked at.
    _refused("stale", headers, now=NOW + 600, cache=cache)
    # A fresh request from the same sender still passes.
    _verify(_signed(), cache=cache)


def test_refused_request_does_not_burn_its_nonce() -> None:
    cache = _cache()
    headers = _signed()
    _refused("digest_mismatch", headers, body=b"tampered", cache=cache)
    _refused("bad_signature", headers, method="PUT", cache=cache)
    assert _verify(headers, cache=cache).key_id == "440305#1"


@pytest.mark.parametrize(
    ("offset_s", "message"),
    [
        (600, "signature created 600 s in the future (allowed clock skew ±300 s"),
        (-600, "signature created 600 s ago (allowed clock skew ±300 s)"),
        (-3600, "signature created 3600 s ago"),
    ],
)
def test_f10_clock_skew(offset_s: int, message: str) -> None:
    error = _refused("stale", _signed(now=NOW + offset_s))
    assert message in error.message


@pytest.mark.parametrize("offset_s", [-299, -240, 0, 240, 299])
def test_f10_skew_within_five_minutes_accepted(offset_s: int) -> None:
    assert _verify(_signed(now=NOW + offset_s)).key_id == "440305#1"


def test_skew_window_is_configurable() -> None:
    headers = _signed(now=NOW - 120)
    with pytest.raises(HttpSignatureError, match="120 s ago \\(allowed clock skew ±60 s\\)"):
        verify_request("POST", URL, headers, BODY, KNOWN.get, NOW, nonce_cache=_cache(), skew_s=60)


def test_expired_signature() -> None:
    created = int(NOW) - 10
    signed = httpsig.sign_components(
        "POST",
        URL,
        {"Content-Digest": httpsig.content_digest(BODY)},
        private=SENDER.private,
        key_id=SENDER.key_id,
        created=created,
        expires=int(NOW) - 400,
        nonce="n1",
    )
    headers = {
        "Content-Digest": httpsig.content_digest(BODY),
        "Signature-Input": signed.signature_input,
        "Signature": signed.signature,
    }
    assert "signature expired 400 s ago" in _refused("stale", headers).message


def _flip_signature(headers: dict[str, str]) -> dict[str, str]:
    raw = bytearray(base64.b64decode(headers["Signature"].split(":")[1]))
    raw[0] ^= 1
    return {**headers, "Signature": f"sig1=:{base64.b64encode(bytes(raw)).decode()}:"}


@pytest.mark.parametrize(
    ("tamper", "kwargs"),
    [
        (None, {"method": "PUT"}),
        (None, {"url": "http://127.0.0.1:8315/federation/v1/other"}),
        (None, {"url": URL + "?channel=directives"}),
        (None, {"url": "http://127.0.0.1:8316/federation/v1/batch"}),
        (None, {"url": "https://127.0.0.1:8315/federation/v1/batch"}),
        (
            lambda h: {
                **h,
                "Signature-Input": h["Signature-Input"].replace("440305#1", "440300#1"),
            },
            {},
        ),
        (
            lambda h: {
                **h,
                "Signature-Input": h["Signature-Input"].replace(";created=", ";created=1"),
            },
            {},
        ),
        (
            lambda h: {**h, "Signature-Input": h["Signature-Input"].replace('nonce="', 'nonce="x')},
            {},
        ),
        (lambda h: {**h, "Signature-Input": h["Signature-Input"].replace("sig1=", "sig2=")}, {}),
        (lambda h: {**h, "Signature": "sig1=:AAAA:"}, {}),
        (lambda h: {**h, "Signature": "sig1=nonsense"}, {}),
        (lambda h: {**h, "Signature-Input": "sig1=((("}, {}),
        (_flip_signature, {}),
        (lambda h: {k: v for k, v in h.items() if k != "Signature"}, {}),
    ],
)
def test_tampered_request_bad_signature(tamper: Any, kwargs: dict[str, Any]) -> None:
    headers = _signed()
    if tamper is not None:
        headers = tamper(headers)
    if "created=1" in headers["Signature-Input"]:
        # Keep the tampered time fresh so the signature check, not freshness, decides.
        headers["Signature-Input"] = headers["Signature-Input"].replace(
            f"created=1{int(NOW)}", f"created={int(NOW) + 1}"
        )
    _refused("bad_signature", headers, **kwargs)


def test_two_signatures_refused() -> None:
    headers = _signed()
    doubled = {
        **headers,
        "Signature-Input": headers["Signature-Input"]
        + ", "
        + headers["Signature-Input"].replace("sig1=", "sig2="),
        "Signature": headers["Signature"] + ", " + headers["Signature"].replace("sig1=", "sig2="),
    }
    assert "exactly one signature" in _refused("bad_signature", doubled).message


def test_wrong_alg_refused() -> None:
    headers = _indep_sign(
        "POST",
        URL,
        BODY,
        SENDER.private,
        f';created={int(NOW)};keyid="440305#1";nonce="n";alg="hmac-sha256"',
    )
    assert "alg must be ed25519" in _refused("bad_signature", headers).message


def test_unsigned() -> None:
    error = _refused("unsigned", {"Content-Digest": httpsig.content_digest(BODY)})
    assert "not signed" in error.message


def test_unknown_key() -> None:
    stranger = keys.generate_keypair("110101#1")
    headers = sign_request("POST", URL, {}, BODY, stranger, NOW)
    assert "110101#1" in _refused("unknown_key", headers).message


def test_revoked_key() -> None:
    headers = _signed()
    with pytest.raises(HttpSignatureError) as info:
        verify_request("POST", URL, headers, BODY, lambda key_id: None, NOW, nonce_cache=_cache())
    assert info.value.code == "unknown_key"


@pytest.mark.parametrize(
    ("components", "missing"),
    [
        (("@method", "@target-uri"), "content-digest"),
        (("@method", "content-digest"), "@target-uri"),
        (("@target-uri", "content-digest"), "@method"),
        (("@authority", "@path", "content-digest"), "@method, @target-uri"),
    ],
)
def test_signature_not_covering_required_components(
    components: tuple[str, ...], missing: str
) -> None:
    signed = httpsig.sign_components(
        "POST",
        URL,
        {"Content-Digest": httpsig.content_digest(BODY)},
        private=SENDER.private,
        key_id=SENDER.key_id,
        covered=components,
        created=int(NOW),
        nonce="n1",
    )
    headers = {
        "Content-Digest": httpsig.content_digest(BODY),
        "Signature-Input": signed.signature_input,
        "Signature": signed.signature,
    }
    error = _refused("missing_component", headers)
    assert error.message.endswith(f"signature does not cover {missing}")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (f';created={int(NOW)};keyid="440305#1"', "nonce"),
        (';keyid="440305#1";nonce="n"', "created"),
        (f';created={int(NOW)};nonce="n"', "keyid"),
    ],
)
def test_signature_missing_parameters(params: str, name: str) -> None:
    headers = _indep_sign("POST", URL, BODY, SENDER.private, params)
    assert f"lacks the {name} parameter" in _refused("missing_component", headers).message


# --- the nonce cache ---------------------------------------------------------------------


def test_memory_nonce_cache_expires_and_is_bounded() -> None:
    clock = [100.0]
    cache = MemoryNonceCache(max_entries=3, clock=lambda: clock[0])
    assert cache.seen_or_add("440305#1", "a", 200) is False
    assert cache.seen_or_add("440305#1", "a", 200) is True
    assert cache.seen_or_add("440300#1", "a", 200) is False  # nonces are per key
    clock[0] = 201.0
    assert cache.seen_or_add("440305#1", "a", 300) is False  # the old entry expired
    assert cache.size() == 1
    for nonce in "bcde":
        cache.seen_or_add("440305#1", nonce, 250 + ord(nonce))
    assert cache.size() == 3
    assert cache.seen_or_add("440305#1", "e", 400) is True  # latest-expiring entries are kept
