import uuid

import pytest
from django.db import transaction
from rest_framework.authtoken.models import Token

from monolith.users import interface, selectors
from monolith.users.models import User
from monolith.users.services import user_register, user_token_obtain
from strangler.django.errors import Conflict, DomainError, ValidationFailed
from strangler.django.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_register_normalises_email_hashes_password_and_writes_outbox():
    user = user_register(email="  Alice@Example.COM ", password="correct-horse", full_name=" Alice ")
    assert user.email == "alice@example.com"
    assert user.full_name == "Alice"
    assert user.password != "correct-horse" and user.check_password("correct-horse")
    message = OutboxMessage.objects.get(event_type="users.UserRegistered")
    assert message.envelope["payload"] == {"user_id": str(user.id)}
    assert message.published_at is None


@pytest.mark.parametrize("email", ["", "not-an-email", "a@", "@b.com", "a b@c.com"])
def test_register_rejects_bad_email(email):
    with pytest.raises(ValidationFailed) as info:
        user_register(email=email, password="long-enough-pass")
    assert "email" in info.value.fields
    assert not User.objects.exists()


@pytest.mark.parametrize("password", ["", "short", "1234567"])
def test_register_rejects_short_password(password):
    with pytest.raises(ValidationFailed) as info:
        user_register(email="bob@example.com", password=password)
    assert "password" in info.value.fields
    assert not User.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_register_duplicate_email_is_conflict_case_insensitively():
    user_register(email="carol@example.com", password="long-enough-pass")
    with pytest.raises(Conflict) as info:
        user_register(email="CAROL@example.com", password="another-pass-1")
    assert info.value.status_code == 409
    assert User.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


def test_register_failure_rolls_back_outbox_with_user():
    with pytest.raises(RuntimeError), transaction.atomic():
        user_register(email="dave@example.com", password="long-enough-pass")
        raise RuntimeError("caller fails after registering")
    assert not User.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_token_obtain_returns_the_same_token_each_time():
    user = user_register(email="erin@example.com", password="long-enough-pass")
    first = user_token_obtain(email="ERIN@example.com", password="long-enough-pass")
    assert first == user_token_obtain(email="erin@example.com", password="long-enough-pass")
    assert Token.objects.get(user=user).key == first


@pytest.mark.parametrize(
    ("email", "password"),
    [("frank@example.com", "wrong-password"), ("nobody@example.com", "long-enough-pass")],
)
def test_token_obtain_refuses_bad_credentials_alike(email, password):
    user_register(email="frank@example.com", password="long-enough-pass")
    with pytest.raises(DomainError) as info:
        user_token_obtain(email=email, password=password)
    assert (info.value.code, info.value.status_code) == ("invalid_credentials", 400)


def test_token_obtain_refuses_inactive_user():
    user = user_register(email="gina@example.com", password="long-enough-pass")
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(DomainError):
        user_token_obtain(email="gina@example.com", password="long-enough-pass")


def test_selectors_and_interface_return_dtos():
    dto = interface.user_register(email="Hal@example.com", password="long-enough-pass", full_name="Hal")
    assert isinstance(dto, interface.UserDTO)
    assert interface.user_get(user_id=dto.id) == dto
    assert interface.user_get_by_email(email="HAL@example.com") == dto
    assert interface.user_get(user_id=uuid.uuid4()) is None
    assert interface.user_get_by_email(email="nobody@example.com") is None
    assert selectors.user_get(user_id=dto.id).email == "hal@example.com"
    with pytest.raises(AttributeError):
        dto.email = "x@example.com"  # frozen
