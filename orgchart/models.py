"""People, managers, roles and absences.

Every model keeps django-simple-history records so the chart can be read as
of any past time: approver resolution takes an ``at`` argument and audit
replay uses it.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords


class Person(AbstractUser):
    """A login user placed in the org chart (the project's AUTH_USER_MODEL)."""

    name = models.CharField(max_length=200, blank=True)
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    department = models.CharField(max_length=100, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    slack_user_id = models.CharField(max_length=64, blank=True)
    # Channels this person wants messages on, in order: "email", "slack", "teams".
    notification_channels = models.JSONField(default=list, blank=True)
    # A service account is an integration (ERP, HR system, bot), not a human.
    is_service_account = models.BooleanField(default=False)

    history = HistoricalRecords(excluded_fields=["last_login", "password"])

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(manager=F("pk")), name="person_not_own_manager"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.get_full_name() or self.username


class Role(models.Model):
    """A named group of people who approve as one (finance-approvers, legal)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(Person, through="RoleMembership", related_name="roles")

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RoleMembership(models.Model):
    """One person in one role; its own history rows record joins and leaves."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "person"], name="rolemembership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.person.username} in {self.role.name}"


class RoleCursor(models.Model):
    """The round-robin position of a role, persisted so picks are fair across
    requests and processes. Kept apart from Role so each pick does not write a
    history row of the role."""

    role = models.OneToOneField(Role, on_delete=models.CASCADE, related_name="cursor")
    position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.role_id}@{self.position}"


class Absence(models.Model):
    """A person's out-of-office statement: from ``start`` to ``end`` (exclusive),
    ``delegate`` acts for them. Two people may name each other while both are
    away; resolution deals with such cycles."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="absences")
    start = models.DateTimeField()
    end = models.DateTimeField()
    delegate = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="delegations", null=True, blank=True
    )
    # Workflow keys this absence covers; empty means every workflow.
    workflows = models.JSONField(default=list, blank=True)
    # Whether the owner's open tasks move to the delegate when the absence starts.
    move_open_tasks = models.BooleanField(default=False)
    # Set once the open tasks were moved, so the move happens once.
    tasks_moved_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["person", "start"]
        indexes = [
            # Resolution asks "is X away at time T": person, then the time window.
            models.Index(fields=["person", "start", "end"], name="absence_person_window"),
            # selectors.absences_starting: "absences whose open tasks are still to move",
            # a small set among all absences, so a partial index keeps the sweep cheap.
            models.Index(
                fields=["start"],
                condition=Q(move_open_tasks=True, tasks_moved_at__isnull=True),
                name="absence_tasks_to_move",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="absence_end_after_start"),
            models.CheckConstraint(
                condition=~Q(delegate=F("person")), name="absence_delegate_not_self"
            ),
            # An absence is identified by its owner and start: load_org upserts on it,
            # so loading the same file twice never duplicates an absence.
            models.UniqueConstraint(fields=["person", "start"], name="absence_person_start_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.person.username} away {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"
