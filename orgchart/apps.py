from django.apps import AppConfig


class OrgchartConfig(AppConfig):
    name = "orgchart"
    verbose_name = "Org chart"
