"""What other contexts may use from users: plain DTOs keyed by UUID, never the model."""

from __future__ import annotations

import dataclasses
import uuid

from monolith.users import selectors, services
from monolith.users.models import User


@dataclasses.dataclass(frozen=True, slots=True)
class UserDTO:
    id: uuid.UUID
    email: str
    full_name: str


def _to_dto(user: User) -> UserDTO:
    return UserDTO(id=user.id, email=user.email, full_name=user.full_name)


def user_get(*, user_id: uuid.UUID) -> UserDTO | None:
    user = selectors.user_get(user_id=user_id)
    return _to_dto(user) if user else None


def user_get_by_email(*, email: str) -> UserDTO | None:
    user = selectors.user_get_by_email(email=email)
    return _to_dto(user) if user else None


def user_register(*, email: str, password: str, full_name: str = "") -> UserDTO:
    """For seeding and tests; raises the same DomainErrors as the API."""
    return _to_dto(services.user_register(email=email, password=password, full_name=full_name))
