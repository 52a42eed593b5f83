"""Admin: the outbox (read-only, with final failures easy to find and retry),
webhook subscriptions, and people's reminder preferences."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import delivery
from .choices import OutboxState
from .models import NotificationPreference, Outbox, UsedToken, WebhookSubscription


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    list_display = (
        "id", "kind", "channel", "recipient", "subscription", "state", "attempts",
        "next_attempt_at", "short_error", "created_at",
    )
    list_filter = ("state", "channel", "kind")
    search_fields = ("dedup_key", "recipient__username", "last_error")
    date_hierarchy = "created_at"
    list_select_related = ("recipient", "subscription")
    actions = ("retry_now",)
    readonly_fields = [f.name for f in Outbox._meta.fields]

    @admin.display(description="last error")
    def short_error(self, obj: Outbox) -> str:
        return obj.last_error[:120]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Outbox | None = None) -> bool:
        return False

    @admin.action(description="Retry now (a fresh budget of attempts)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Outbox]) -> None:
        ids = list(
            queryset.filter(
                state__in=[OutboxState.FAILED, OutboxState.PENDING, OutboxState.QUEUED]
            ).values_list("pk", flat=True)
        )
        n = delivery.retry_now(ids)
        self.message_user(request, f"{n} message(s) queued again.", messages.SUCCESS)


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "workflow", "events", "is_active", "created_at")
    list_filter = ("is_active", "workflow")
    search_fields = ("name", "url")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("person", "reminder_digest")
    search_fields = ("person__username",)
    raw_id_fields = ("person",)


@admin.register(UsedToken)
class UsedTokenAdmin(admin.ModelAdmin):
    list_display = ("purpose", "nonce", "task_id", "person", "used_at")
    list_filter = ("purpose",)
    readonly_fields = ("nonce", "purpose", "task_id", "person", "used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
