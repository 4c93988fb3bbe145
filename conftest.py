"""Fixtures every monolith test may use. Context-specific factories live in each context's tests/."""

import uuid

import pytest

# `payments_server`: a live payments server, for the remote client's tests in payments and orders.
pytest_plugins = ["tests.live_payments"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Each user fixture hashes a password; the default hasher costs ~0.25 s a test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(email=f"u{uuid.uuid4().hex[:8]}@example.com", password="s3cret-pass")


@pytest.fixture
def auth_client(api_client, user):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api_client
