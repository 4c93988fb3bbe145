"""Events the users context publishes. Payloads carry the user's id only: the email stays here,
consumers that need it ask `monolith.users.interface.user_get`."""

import dataclasses
import uuid
from typing import ClassVar

from strangler.django.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    type_name: ClassVar[str] = "users.UserRegistered"
    user_id: uuid.UUID
