from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self) -> None:
        # The org chart does not know the engine; it announces a departure and the
        # engine moves the person's open tasks inside the same transaction.
        from approvals.services.sla import on_person_deactivated
        from orgchart.signals import person_deactivated

        person_deactivated.connect(on_person_deactivated, dispatch_uid="approvals-deactivated")
