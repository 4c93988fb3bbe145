"""Service-to-service endpoints of users, mounted at /internal/v1/users/."""

from django.urls import path

from monolith.users.internal_apis import TokenIntrospectApi

urlpatterns = [
    path("introspect/", TokenIntrospectApi.as_view(), name="users-internal-introspect"),
]
