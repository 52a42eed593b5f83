"""/api/v1/audit/ (included by config.api_urls)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.AuditEventListView.as_view(), name="api-audit-list"),
    path("verify/", views.AuditVerifyView.as_view(), name="api-audit-verify"),
    path("export/", views.AuditExportView.as_view(), name="api-audit-export"),
]
