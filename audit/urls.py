"""/audit/: the auditor pages (included by config.urls)."""

from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.events_page, name="events"),
    path("requests/<int:request_id>/", views.request_page, name="request"),
]
