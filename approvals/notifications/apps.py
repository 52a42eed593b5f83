from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "approvals.notifications"
    label = "notifications"
    verbose_name = "Notifications"
