"""The kit's own internal endpoints; include them under ``internal/strangler/`` (see strangler.django.status)."""

from django.urls import path

from strangler.django.status import status_view

urlpatterns = [
    path("status", status_view, name="strangler-status"),
]
