"""Whose order it is, for extracted services: GET /internal/v1/orders/<id>/owner/."""

from __future__ import annotations

import uuid


def test_an_order_names_its_owner_and_nothing_else(order, internal_client):
    response = internal_client().get(f"/internal/v1/orders/{order.id}/owner/")
    assert response.status_code == 200
    assert response.json() == {"id": str(order.id), "user_id": str(order.user_id)}


def test_an_unknown_order_is_404_with_the_error_shape(db, internal_client):
    response = internal_client().get(f"/internal/v1/orders/{uuid.uuid4()}/owner/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"


def test_without_an_internal_credential_it_is_closed(order, internal_client):
    response = internal_client(caller=None).get(f"/internal/v1/orders/{order.id}/owner/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "internal_credential_required"
