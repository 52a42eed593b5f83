"""The org chart's API shapes (API.md, "Org chart")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils.dateparse import parse_date
from rest_framework import serializers

from orgchart.models import Absence, Person, Role


class PersonSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)
    manager = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    roles = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Person
        fields = ["username", "name", "email", "manager", "department", "title", "roles", "active"]
        read_only_fields = fields


class RoleSerializer(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)

    class Meta:
        model = Role
        fields = ["name", "description", "members"]
        read_only_fields = fields


class DayOrMomentField(serializers.DateTimeField):
    """A date ("2026-12-24": a whole day, in the server's time zone) or a date and time."""

    def to_internal_value(self, value: Any) -> date | datetime:
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                day = parse_date(value.strip())
            except ValueError:
                day = None
            if day is not None:
                return day
        return super().to_internal_value(value)


class AbsenceSerializer(serializers.ModelSerializer):
    """An absence as read. ``end`` is exclusive (00:00 after the last day away)."""

    delegate = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Absence
        fields = ["id", "start", "end", "delegate", "workflows", "move_open_tasks", "note"]
        read_only_fields = fields


class AbsenceWriteSerializer(serializers.Serializer):
    """An absence as written. A date-only ``start`` is that day at 00:00, a date-only
    ``end`` is inclusive (the absence ends at 00:00 the day after)."""

    start = DayOrMomentField()
    end = DayOrMomentField()
    delegate = serializers.SlugRelatedField(
        slug_field="username",
        queryset=Person.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        error_messages={"does_not_exist": "No active person with the username {value}."},
    )
    workflows = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9_-]{1,100}\Z"), required=False, max_length=100
    )
    move_open_tasks = serializers.BooleanField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)


class AbsenceUpdateSerializer(AbsenceWriteSerializer):
    start = DayOrMomentField(required=False)
    end = DayOrMomentField(required=False)
