"""seed_demo: the demo company and the example workflows, so a new user has
something to click. Safe to run again: it changes nothing the second time."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from approvals import services
from approvals.models import Request
from orgchart.models import Person, Role, RoleMembership
from orgchart.services import load_org

DEMO = Path(__file__).resolve().parents[2] / "demo"
RECIPES = ["leave_request", "purchase_order", "discount", "db_access"]


class Command(BaseCommand):
    help = "Load the demo org chart, the example workflows and a few requests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default="demo", help="password of every demo person")
        parser.add_argument("--no-requests", action="store_true", help="skip sample requests")

    def handle(self, *args, password: str, no_requests: bool, **options) -> None:
        with transaction.atomic():
            report = load_org(text=(DEMO / "org.yaml").read_text(), filename="org.yaml")
            counts = ", ".join(f"{n} {what}" for what, n in sorted(report.tally.items()))
            self.stdout.write(f"org chart: {counts or 'unchanged'}")
            self._people(password)
            for name in RECIPES:
                version, created = services.publish(source=(DEMO / f"{name}.yaml").read_text())
                state = "published" if created else "unchanged"
                self.stdout.write(f"workflow {version.workflow.key} v{version.number} {state}")
        if not no_requests and not Request.objects.exists():
            self._requests()

    def _people(self, password: str) -> None:
        # People loaded from the org file have no usable password yet.
        for person in Person.objects.all():
            if person.has_usable_password():
                continue
            person.set_password(password)
            person.save(update_fields=["password"])
        admin, created = Person.objects.get_or_create(
            username="admin",
            defaults={"name": "Site Admin", "email": "admin@example.com",
                      "is_staff": True, "is_superuser": True},
        )
        if created:
            admin.set_password("admin")
            admin.save(update_fields=["password"])
        # Grace, the CEO, authors workflows and audits; the CFO's team audits too.
        grace = Person.objects.filter(username="grace").first()
        if grace:
            grace.is_staff = True
            grace.save(update_fields=["is_staff"])
            grace.user_permissions.add(
                *Permission.objects.filter(
                    codename__in=["add_workflowversion", "view_workflow", "view_workflowversion",
                                  "add_workflow", "change_workflow", "view_request", "view_task"]
                )
            )
        auditors, _ = Role.objects.get_or_create(
            name="auditors", defaults={"description": "May read every audit event."}
        )
        cfo = Person.objects.filter(username="cfo").first()
        if cfo:
            RoleMembership.objects.get_or_create(role=auditors, person=cfo)

    def _requests(self) -> None:
        people = {p.username: p for p in Person.objects.all()}
        samples = [
            ("leave_request", "alice", {"start_date": "2026-12-21", "days": 5,
                                        "reason": "Holidays with family"}),
            ("leave_request", "sam", {"start_date": "2027-01-04", "days": 20,
                                      "reason": "Sabbatical"}),
            ("purchase_order", "alice", {"amount": "1200", "vendor": "Laptops Inc",
                                         "reason": "New laptop"}),
            ("purchase_order", "dave", {"amount": "7500", "vendor": "Rack Servers Ltd",
                                        "reason": "Build farm"}),
            ("discount", "sam", {"discount_pct": 15, "deal_value": "48000",
                                 "customer": "Acme Corp", "justification": "Three-year deal"}),
            ("db_access", "alice", {"database": "billing", "level": "read-write"}),
        ]
        for key, username, inputs in samples:
            request = services.submit(workflow_key=key, requester=people[username], inputs=inputs)
            self.stdout.write(f"request #{request.pk} {key} from {username}: {request.state}")
