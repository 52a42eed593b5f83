"""What the API keeps for itself: idempotency keys and the integration permissions."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` a caller sent on a POST, with the first response.

    The row is inserted as *pending* (``status_code`` null) in its own transaction
    before the view runs: the unique constraint lets exactly one of several
    concurrent repeats claim the key. The winner stores the status and body when
    it is done; repeats replay them. Rows older than the retention window (24 h)
    count as absent; an hourly beat task deletes them (``idempotency.purge_expired``).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and body: the same key with another body is a 409.
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The claim: concurrent repeats of one key insert once.
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key"),
        ]
        indexes = [
            # Purging expired keys, oldest first.
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}:{self.key}"

    @property
    def is_pending(self) -> bool:
        return self.status_code is None


class Integration(models.Model):
    """No table: the holder of the permissions integrations need.

    ``approvals_api.submit_on_behalf``: a service account (``Person.is_service_account``)
    may submit a request whose requester is another person; the audit trail records
    both (``requester`` and ``submitted_by``).
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("submit_on_behalf", "Can submit requests on behalf of another person"),
        ]

    def __str__(self) -> str:
        return "integration permissions"
