"""Django app ``strangler.django.idempotency``: Idempotency-Key handling for API views."""
