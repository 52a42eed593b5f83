"""Routes of the reports page (mounted at /reports/ in config/urls.py)."""

from django.urls import path

from approvals import views_reports

app_name = "reports"

urlpatterns = [
    path("", views_reports.reports_page, name="index"),
]
