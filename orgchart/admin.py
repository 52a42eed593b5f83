"""The org chart in the Django admin: people (with their history), roles with
their members, absences. Changes that have consequences go through the services:
deactivating a person (their open tasks move), and absences (checked like
everywhere else)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .errors import OrgChartError
from .models import Absence, Person, Role, RoleMembership


@admin.register(Person)
class PersonAdmin(SimpleHistoryAdmin, UserAdmin):
    list_display = ("username", "name", "title", "department", "manager", "is_active")
    list_filter = ("is_active", "department", "is_staff", "is_service_account")
    search_fields = ("username", "name", "email", "title", "department")
    list_select_related = ("manager",)
    autocomplete_fields = ("manager",)
    actions = ("deactivate", "reactivate")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("name", "email", "title", "department", "manager")}),
        ("Messages", {"fields": ("slack_user_id", "notification_channels")}),
        (
            "Access",
            {
                "fields": (
                    "is_active",
                    "is_service_account",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
                "description": "To mark someone as gone, use the “Deactivate” action: "
                "their open tasks then move to their manager.",
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Deactivation must go through the service (it moves open tasks), so the
        # flag is not a checkbox on an existing person.
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "is_active") if obj is not None else readonly

    @admin.action(description="Deactivate selected people (open tasks go to their manager)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Person]) -> None:
        count = 0
        for person in queryset.filter(is_active=True):
            services.person_deactivate(person=person, actor=request.user)
            count += 1
        self.message_user(request, f"{count} people deactivated.", messages.SUCCESS)

    @admin.action(description="Reactivate selected people")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Person]) -> None:
        count = 0
        for person in queryset.filter(is_active=False):
            services.person_reactivate(person=person, actor=request.user)
            count += 1
        self.message_user(request, f"{count} people reactivated.", messages.SUCCESS)


class RoleMembershipInline(admin.TabularInline):
    model = RoleMembership
    extra = 1
    autocomplete_fields = ("person",)
    readonly_fields = ("created_at",)


@admin.register(Role)
class RoleAdmin(SimpleHistoryAdmin):
    list_display = ("name", "description")
    search_fields = ("name", "description")
    inlines = (RoleMembershipInline,)


class AbsenceForm(forms.ModelForm):
    """Checks an absence with the same rules as the services, so the admin refuses
    what the API and the page refuse, on the right field."""

    class Meta:
        model = Absence
        fields = ("person", "start", "end", "delegate", "workflows", "move_open_tasks", "note")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        person = data.get("person") or (self.instance.person if self.instance.pk else None)
        if self.errors or person is None:
            return data
        problems = services.absence_problems(
            person=person,
            start=data["start"],
            end=data["end"],
            delegate=data.get("delegate"),
            workflows=data.get("workflows") or [],
            move_open_tasks=data.get("move_open_tasks", False),
            exclude_pk=self.instance.pk,
        )
        if problems:
            raise ValidationError(
                {
                    (None if key == services.NON_FIELD else key): messages_
                    for key, messages_ in problems.items()
                }
            )
        return data


@admin.register(Absence)
class AbsenceAdmin(SimpleHistoryAdmin):
    form = AbsenceForm
    list_display = ("person", "start", "end", "delegate", "move_open_tasks", "tasks_moved_at")
    list_filter = ("move_open_tasks",)
    search_fields = ("person__username", "delegate__username", "note")
    list_select_related = ("person", "delegate")
    autocomplete_fields = ("person", "delegate")
    readonly_fields = ("tasks_moved_at", "created_at")

    def save_model(self, request: HttpRequest, obj: Absence, form: Any, change: bool) -> None:
        fields = {
            key: form.cleaned_data.get(key)
            for key in ("start", "end", "delegate", "move_open_tasks", "note")
        }
        fields["workflows"] = form.cleaned_data.get("workflows") or []
        fields["note"] = fields["note"] or ""
        try:
            if change:
                saved = services.absence_update(absence_id=obj.pk, actor=request.user, **fields)
            else:
                saved = services.absence_create(
                    person=form.cleaned_data["person"], actor=request.user, **fields
                )
        except OrgChartError as exc:  # a race with another change since the form checked
            self.message_user(request, exc.message, messages.ERROR)
            raise
        obj.pk = saved.pk
        obj.created_at = saved.created_at

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "person") if obj is not None else readonly

    def delete_model(self, request: HttpRequest, obj: Absence) -> None:
        services.absence_delete(absence_id=obj.pk, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Absence]) -> None:
        for absence in queryset:
            services.absence_delete(absence_id=absence.pk, actor=request.user)
