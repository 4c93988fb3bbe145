"""Query parameters validated as the OpenAPI document describes them.

A DRF serializer fed ``request.query_params`` (a QueryDict) reads it as an HTML form: a parameter
sent empty (``?order_id=``) counts as not sent when the field is optional, so a filter the document
types as a uuid silently matches everything; and a repeated parameter keeps its last value. A
``QuerySerializer`` reads each parameter as the value the client sent: empty is a value like any
other (refused unless the field allows it) and a parameter sent twice is refused, each with the
kit's 400 ``validation_error`` naming the parameter.

Document it with ``@extend_schema(parameters=[TheQuerySerializer])``: drf-spectacular explodes it into
query parameters, so the document and the check share one source.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty


class QuerySerializer(serializers.Serializer):
    default_error_messages = {"repeated": "Give this parameter once."}

    def __init__(self, instance: Any = None, data: Any = empty, **kwargs: Any) -> None:
        self._repeated: list[str] = []
        if isinstance(data, QueryDict):
            self._repeated = sorted(k for k, values in data.lists() if len(values) > 1 and k in self._declared_fields)
            data = {k: data[k] for k in data}
        super().__init__(instance, data=data, **kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if self._repeated:
            raise serializers.ValidationError({k: [self.error_messages["repeated"]] for k in self._repeated})
        return super().to_internal_value(data)
