"""Internal credentials: the format, keys per caller->audience pair, and the proxy signing what it
sends to a service."""

from __future__ import annotations

import json

import pytest

from strangler.proxy.config import ConfigError, parse_config
from strangler.proxy.credentials import (
    CredentialSource,
    Keyring,
    credential_mint,
    credential_verify,
    parse_keys,
)
from strangler.proxy.server import ProxyServer
from strangler.tests.conftest import ProxyHandle, base_config, header_value

SECRET = "internal-test-secret"
AUD = "payments-service"


def test_a_minted_credential_names_its_caller():
    value = credential_mint(SECRET, "strangler", audience=AUD, now=1000)
    assert credential_verify(SECRET, value, audience=AUD, now=1001) == "strangler"


@pytest.mark.parametrize("value", [
    None, "", "v2.strangler", "v1.strangler.2000.sig", "v2.Strangler.payments-service.2000.sig",
    "v2.strangler.payments-service.x.sig", "v2.strangler.payments-service.2000." + "A" * 43,
    "v2.strangler.payments-service.2000." + "A" * 400,
])
def test_malformed_or_unsigned_credentials_are_refused(value):
    assert credential_verify(SECRET, value, audience=AUD, now=1000) is None


def test_tampering_expiry_and_another_secret_are_refused():
    value = credential_mint(SECRET, "monolith", audience=AUD, now=1000, ttl=600)
    version, caller, audience, expires, sig = value.split(".")
    assert credential_verify(SECRET, f"{version}.strangler.{audience}.{expires}.{sig}", audience=AUD, now=1000) is None
    assert credential_verify(SECRET, f"{version}.{caller}.{audience}.{int(expires) + 1}.{sig}", audience=AUD,
                             now=1000) is None
    assert credential_verify("another-secret", value, audience=AUD, now=1000) is None
    assert credential_verify(SECRET, value, audience=AUD, now=1601) is None  # expired
    too_long = credential_mint(SECRET, "monolith", audience=AUD, now=1000, ttl=10 * 3600)
    assert credential_verify(SECRET, too_long, audience=AUD, now=1000) is None  # claims to outlive MAX_TTL


def test_a_source_renews_before_expiry():
    source = CredentialSource(SECRET, "strangler", audience=AUD, ttl=600)
    first = source.current(now=1000)
    assert source.current(now=1100) == first
    renewed = source.current(now=1301)  # past half its life: renewed
    assert renewed != first and credential_verify(SECRET, renewed, audience=AUD, now=1301) == "strangler"


def _signed_config(upstreams):
    cfg = base_config(upstreams["monolith"], upstreams["service"], mode="service")
    cfg["targets"]["payments"]["credential"] = {"caller": "strangler", "audience": AUD,
                                                "secret_env": "TEST_INTERNAL_SECRET"}
    return cfg


def test_the_proxy_signs_service_requests_and_drops_the_clients_own(upstreams):
    handle = ProxyHandle(_signed_config(upstreams), env={"TEST_INTERNAL_SECRET": SECRET})
    try:
        forged = credential_mint("guessed-secret", "monolith", audience=AUD)
        status, body = handle.json("GET", "/api/v1/payments/echo", headers={"X-Internal-Credential": forged})
        assert status == 200 and body["upstream"] == "service"
        values = header_value(body["headers"], "x-internal-credential")
        assert len(values) == 1 and values[0] != forged
        assert credential_verify(SECRET, values[0], audience=AUD) == "strangler"
        # The monolith target has no credential configured: the client's forgery does not reach it either.
        status, body = handle.json("GET", "/orders/echo", headers={"X-Internal-Credential": forged})
        assert status == 200 and body["upstream"] == "monolith"
        assert header_value(body["headers"], "x-internal-credential") == []
    finally:
        handle.close()


def test_the_proxy_signs_with_a_pairwise_key_and_holds_no_root(upstreams):
    cfg = _signed_config(upstreams)
    keys = {"strangler>payments-service": "pair-key-of-the-proxy", "strangler>catalog": "another-pair-key"}
    handle = ProxyHandle(cfg, env={"INTERNAL_AUTH_KEYS": json.dumps(keys)})
    try:
        _, body = handle.json("GET", "/api/v1/payments/echo")
        value = header_value(body["headers"], "x-internal-credential")[0]
        service = Keyring(pairs={"strangler>payments-service": "pair-key-of-the-proxy"})
        assert credential_verify(service, value, audience=AUD) == "strangler"
        assert credential_verify(Keyring(pairs=keys), value, audience="catalog") is None
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
    cfg["targets"]["payments"]["credential"] = {"caller": "strangler", "audience": "Payments Service"}
    with pytest.raises(ConfigError, match="audience"):
        parse_config(cfg, env={})
    cfg["targets"]["payments"]["credential"] = {"caller": "strangler", "secret": "inline"}
    with pytest.raises(ConfigError):
        parse_config(cfg, env={})
    cfg["targets"]["payments"]["credential"] = {"caller": "strangler"}
    with pytest.raises(ConfigError, match="INTERNAL_AUTH_KEYS"):
        parse_config(cfg, env={"INTERNAL_AUTH_KEYS": "{not json"})


@pytest.mark.parametrize("text", ['["a"]', '{"strangler": "k"}', '{"a>b": ""}', '{"A>b": "k"}', "{"])
def test_pairwise_keys_are_validated(text):
    with pytest.raises(ValueError):
        parse_keys(text)


# -- issue 16 item 12: bytes comparison, per-pair keys, audience binding ---------------------------------
@pytest.mark.parametrize("sig", ["é" * 43, "A" * 42 + "\u2603", "\udcff" * 43])
def test_non_ascii_credentials_are_refused_not_raised(sig):
    assert credential_verify(SECRET, f"v2.strangler.payments.2000.{sig}", audience="payments", now=1000) is None
    assert credential_verify(SECRET, f"v1.strangler.2000.{sig}", audience="payments", now=1000) is None


def test_a_credential_minted_for_payments_is_refused_by_catalog():
    value = credential_mint(SECRET, "strangler", audience="payments", now=1000)
    assert credential_verify(SECRET, value, audience="payments", now=1000) == "strangler"
    assert credential_verify(SECRET, value, audience="catalog", now=1000) is None
    # With pairwise keys catalog holds only its own pairs: it cannot even check a payments credential.
    catalog = Keyring(pairs={"strangler>catalog": "catalog-key"})
    payments = Keyring(pairs={"strangler>payments": "payments-key"})
    value = credential_mint(payments, "strangler", audience="payments", now=1000)
    assert credential_verify(payments, value, audience="payments", now=1000) == "strangler"
    assert credential_verify(catalog, value, audience="catalog", now=1000) is None
    assert credential_verify(catalog, value, audience="payments", now=1000) is None
    with pytest.raises(ValueError, match="no internal credential key"):
        credential_mint(catalog, "strangler", audience="payments")
    # Nor can the audience be edited: it is signed, and it picks the key.
    version, caller, _audience, expires, sig = value.split(".")
    assert credential_verify(SECRET, f"{version}.{caller}.catalog.{expires}.{sig}", audience="catalog",
                             now=1000) is None
