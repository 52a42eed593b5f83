"""The audit event as the API shows it (one shape for both tiers)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ActorSerializer(serializers.Serializer):
    user = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    on_behalf_of = serializers.CharField(allow_null=True)
    via = serializers.CharField()


class AuditEventSerializer(serializers.Serializer):
    """Reads the dicts of ``audit.selectors.events_for`` after ``hydrate``."""

    id = serializers.UUIDField()
    at = serializers.DateTimeField()
    chain = serializers.CharField()
    seq = serializers.IntegerField()
    request = serializers.IntegerField(source="request_id", allow_null=True)
    workflow = serializers.CharField(source="workflow_key")
    workflow_version = serializers.IntegerField(allow_null=True)
    event_type = serializers.CharField()
    actor = ActorSerializer()
    payload = serializers.JSONField(allow_null=True)
    snapshot = serializers.JSONField(allow_null=True)
    inputs = serializers.JSONField()
    imported = serializers.BooleanField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()
    tier = serializers.ChoiceField(choices=["hot", "archive"])

    def to_representation(self, instance: dict[str, Any]) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["type"] = data["event_type"]  # the name the request history uses
        return data


class VerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    first_broken = serializers.CharField(required=False)
    chain = serializers.CharField(required=False)
    seq = serializers.IntegerField(required=False)
    file = serializers.CharField(required=False)
    checkpoint = serializers.IntegerField(required=False)
    reason = serializers.CharField(required=False)
