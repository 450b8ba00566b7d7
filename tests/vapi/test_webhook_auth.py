"""The webhook credential check, pure: secret header or bearer, or Vapi's HMAC with a replay window."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from vapi_mcp.errors import WebhookRefused
from vapi_mcp.vapi.webhook_auth import REPLAY_WINDOW_S, WebhookAuth, hmac_signature

SECRET = "webhook-secret-0123456789abcdef"
BODY = b'{"message": {"type": "hang"}}'
NOW = 1_790_000_000.0


def refused(auth: WebhookAuth, headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(WebhookRefused) as info:
        auth.check(headers, body, now)
    assert info.value.status == 401
    assert SECRET not in str(info.value)
    return str(info.value)


def test_the_secret_as_x_vapi_secret_or_bearer() -> None:
    auth = WebhookAuth(SecretStr(SECRET))
    auth.check({"x-vapi-secret": SECRET}, BODY, NOW)
    auth.check({"authorization": f"Bearer {SECRET}"}, BODY, NOW)
    refused(auth, {})
    refused(auth, {"x-vapi-secret": SECRET + "x"})
    refused(auth, {"authorization": SECRET})  # no Bearer prefix
    refused(auth, {"x-signature": hmac_signature(SECRET, BODY, "1")})  # an HMAC where a secret is expected


@pytest.mark.parametrize("stamp", [str(int(NOW)), str(int(NOW * 1000)), str(int(NOW) - 299)])
def test_hmac_over_timestamp_and_body_in_seconds_or_milliseconds(stamp: str) -> None:
    auth = WebhookAuth(SecretStr(SECRET), hmac=True)
    signature = hmac_signature(SECRET, BODY, stamp)
    auth.check({"x-signature": signature, "x-timestamp": stamp}, BODY, NOW)
    auth.check({"x-signature": f"sha256={signature}", "x-timestamp": stamp}, BODY, NOW)
    auth.check({"x-signature": signature.upper(), "x-timestamp": stamp}, BODY, NOW)


def test_hmac_refusals() -> None:
    auth = WebhookAuth(SecretStr(SECRET), hmac=True)
    stamp = str(int(NOW))
    good = hmac_signature(SECRET, BODY, stamp)
    assert "signature" in refused(auth, {"x-timestamp": stamp})
    assert "timestamp" in refused(auth, {"x-signature": good})
    assert "timestamp" in refused(auth, {"x-signature": good, "x-timestamp": "soon"})
    assert "timestamp" in refused(auth, {"x-signature": good, "x-timestamp": "nan"})
    assert "bad" in refused(auth, {"x-signature": good, "x-timestamp": stamp}, body=BODY + b" ")
    assert "bad" in refused(auth, {"x-signature": good, "x-timestamp": str(int(NOW) + 1)})
    for skew in (REPLAY_WINDOW_S + 1, -REPLAY_WINDOW_S - 1):
        late = str(int(NOW + skew))
        assert "replay" in refused(auth, {"x-signature": hmac_signature(SECRET, BODY, late), "x-timestamp": late})
    assert "bad" in refused(auth, {"x-signature": hmac_signature("another-secret", BODY, stamp), "x-timestamp": stamp})
    assert refused(auth, {"x-vapi-secret": SECRET})


def test_custom_headers_and_a_credential_that_signs_the_body_alone() -> None:
    auth = WebhookAuth(SecretStr(SECRET), hmac=True, signature_header="X-Hub-Signature-256", timestamp_header="")
    auth.check({"x-hub-signature-256": "sha256=" + hmac_signature(SECRET, BODY, None)}, BODY, NOW)
    refused(auth, {"x-hub-signature-256": hmac_signature(SECRET, BODY, str(int(NOW)))})


def test_a_secret_is_required_and_never_shown() -> None:
    with pytest.raises(ValueError):
        WebhookAuth(SecretStr(""))
    with pytest.raises(ValueError):
        WebhookAuth(SecretStr(SECRET), hmac=True, signature_header="")
    assert SECRET not in repr(WebhookAuth(SecretStr(SECRET)))
