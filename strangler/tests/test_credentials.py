"""Internal credentials: the format, and the proxy signing what it sends to a service."""

from __future__ import annotations

import pytest

from strangler.config import ConfigError, parse_config
from strangler.credentials import CredentialSource, credential_mint, credential_verify
from strangler.server import ProxyServer
from strangler.tests.conftest import ProxyHandle, base_config, header_value

SECRET = "internal-test-secret"


def test_a_minted_credential_names_its_caller():
    assert credential_verify(SECRET, credential_mint(SECRET, "strangler", now=1000), now=1001) == "strangler"


@pytest.mark.parametrize("value", [
    None, "", "v1.strangler", "v2.strangler.2000.sig", "v1.Strangler.2000.sig", "v1.strangler.x.sig",
    "v1.strangler.2000." + "A" * 43,
])
def test_malformed_or_unsigned_credentials_are_refused(value):
    assert credential_verify(SECRET, value, now=1000) is None


def test_tampering_expiry_and_another_secret_are_refused():
    value = credential_mint(SECRET, "monolith", now=1000, ttl=600)
    version, caller, expires, sig = value.split(".")
    assert credential_verify(SECRET, f"{version}.strangler.{expires}.{sig}", now=1000) is None
    assert credential_verify(SECRET, f"{version}.{caller}.{int(expires) + 1}.{sig}", now=1000) is None
    assert credential_verify("another-secret", value, now=1000) is None
    assert credential_verify(SECRET, value, now=1601) is None  # expired
    too_long = credential_mint(SECRET, "monolith", now=1000, ttl=10 * 3600)
    assert credential_verify(SECRET, too_long, now=1000) is None  # claims to outlive MAX_TTL


def test_a_source_renews_before_expiry():
    source = CredentialSource(SECRET, "strangler", ttl=600)
    first = source.current(now=1000)
    assert source.current(now=1100) == first
    renewed = source.current(now=1301)  # past half its life: renewed
    assert renewed != first and credential_verify(SECRET, renewed, now=1301) == "strangler"


def _signed_config(upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"], mode="service")
    cfg["targets"]["payments"]["credential"] = {"caller": "strangler", "secret_env": "TEST_INTERNAL_SECRET"}
    return cfg


def test_the_proxy_signs_service_requests_and_drops_the_clients_own(upstreams):
    handle = ProxyHandle(_signed_config(upstreams), env={"TEST_INTERNAL_SECRET": SECRET})
    try:
        forged = credential_mint("guessed-secret", "monolith")
        status, body = handle.json("GET", "/api/v1/payments/echo", headers={"X-Internal-Credential": forged})
        assert status == 200 and body["upstream"] == "service"
        values = header_value(body["headers"], "x-internal-credential")
        assert len(values) == 1 and values[0] != forged
        assert credential_verify(SECRET, values[0]) == "strangler"
        # The monolith target has no credential configured: the client's forgery does not reach it either.
        status, body = handle.json("GET", "/orders/echo", headers={"X-Internal-Credential": forged})
        assert status == 200 and body["upstream"] == "monolith"
        assert header_value(body["headers"], "x-internal-credential") == []
    finally:
        handle.close()


def test_a_signing_target_without_its_secret_does_not_start(upstreams):
    config = parse_config(_signed_config(upstreams), env={})  # the CLI may read the table without it
    with pytest.raises(ConfigError, match="TEST_INTERNAL_SECRET"):
        ProxyServer(config)


def test_credential_config_is_validated(upstreams):
    cfg = _signed_config(upstreams)
    cfg["targets"]["payments"]["credential"] = {"caller": "Not Valid", "secret_env": "X"}
    with pytest.raises(ConfigError, match="caller"):
        parse_config(cfg, env={})
    cfg["targets"]["payments"]["credential"] = {"caller": "strangler", "secret": "inline"}
    with pytest.raises(ConfigError):
        parse_config(cfg, env={})
