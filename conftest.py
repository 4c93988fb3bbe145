"""Fixtures every monolith test may use. Context-specific factories live in each context's tests/."""

import uuid

import psutil
import pytest

from strangler.django.testing import network_guard_fixture

# `payments_server`: a live payments server, for the remote client's tests in payments and orders.
pytest_plugins = ["tests.live_payments"]

# Every step commits before it calls out: an HTTP request or a processor call made inside a
# transaction the code opened fails the test (strangler.django.testing).
no_network_in_transaction = network_guard_fixture(
    "monolith.payments.processors.FakeProcessor.charge",
    "monolith.payments.processors.FakeProcessor.refund",
)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Each user fixture hashes a password; the default hasher costs ~0.25 s a test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fake_processor_ledger():
    """Each test starts with a processor that has seen no idempotency key (FakeProcessor's ledger)."""
    from monolith.payments.processors import FakeProcessor

    FakeProcessor.ledger_reset()
    yield FakeProcessor
    FakeProcessor.ledger_reset()


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every test stops what it starts, also when it fails: whatever a test or fixture left running
    (a server started before its fixture's try, say) is killed here, named, and fails the run."""
    leftovers = [proc for proc in psutil.Process().children(recursive=True) if not _interpreter_owned(proc)]
    names = "; ".join(_describe(proc) for proc in leftovers)
    for proc in leftovers:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(leftovers, timeout=10)
    if leftovers:
        session.config.get_terminal_writer().line(f"processes left running by the tests, killed: {names}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _interpreter_owned(proc: psutil.Process) -> bool:
    """multiprocessing's resource tracker and fork server: started by the interpreter on first use of
    a multiprocessing primitive, ended by it at exit, not something a test started and forgot."""
    try:
        return any(f"multiprocessing.{name}" in " ".join(proc.cmdline()) for name in ("resource_tracker", "forkserver"))
    except psutil.Error:
        return False


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:160]}"
    except psutil.Error:
        return str(proc.pid)


@pytest.fixture
def internal_client(settings):
    """``internal_client(caller)``: an API client carrying ``caller``'s internal credential for the
    monolith (None: no credential), as an extracted service calls the monolith's internal API."""
    from rest_framework.test import APIClient

    from strangler.proxy.credentials import HEADER, credential_mint

    def build(caller: str | None = "payments-service") -> APIClient:
        client = APIClient()
        if caller is not None:
            meta = "HTTP_" + HEADER.upper().replace("-", "_")
            client.credentials(**{meta: credential_mint(settings.INTERNAL_AUTH_SECRET, caller, audience="monolith")})
        return client

    return build
