"""Exceptions of the service's own HTTP edge.

Plain DRF exceptions, not the kit's DomainError: they are raised from the authentication
class, which DRF imports while ``rest_framework.views`` is still initialising, so they stay clear
of anything that renders responses through those views.
"""

from rest_framework import status
from rest_framework.exceptions import APIException


class IdentityUnavailable(APIException):
    """The monolith, which owns users, could not say who a token belongs to. Worth a retry soon."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "identity_unavailable"
    default_detail = "the identity service is unavailable; retry shortly"
    wait = 1  # seconds; DRF turns it into Retry-After
