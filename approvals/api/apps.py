from django.apps import AppConfig


class ApprovalsApiConfig(AppConfig):
    """The integration API: its own app so its models (idempotency keys, the
    submit-on-behalf permission) and migrations stay apart from the engine's."""

    name = "approvals.api"
    label = "approvals_api"
    verbose_name = "Approvals API"
