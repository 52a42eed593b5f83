"""The audit tables in the admin: read-only, for looking, never for changing."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ArchivedEvent, AuditArchive, AuditCheckpoint, AuditEvent, CheckpointEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete, whoever asks (superusers included), and no bulk actions."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "event_type", "request_id", "workflow_key", "actor_username", "seq")
    list_filter = ("event_type", "imported")
    search_fields = ("=request_id", "workflow_key", "actor_username", "on_behalf_of_username")
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(ArchivedEvent)
class ArchivedEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "event_type", "request_id", "workflow_key", "actor_username", "archive")
    list_filter = ("event_type",)
    search_fields = ("=request_id", "workflow_key", "actor_username")
    show_full_result_count = False


@admin.register(AuditArchive)
class AuditArchiveAdmin(ReadOnlyAdmin):
    list_display = ("name", "event_count", "first_at", "last_at", "created_at")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "entry_count", "hash")


@admin.register(CheckpointEntry)
class CheckpointEntryAdmin(ReadOnlyAdmin):
    list_display = ("checkpoint_seq", "position", "chain", "seq", "event_id")
