"""Routes of notifications: action links and Slack interactivity (under /n/)."""

from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("a/<str:token>/", views.action, name="action"),
    path("slack/interactions/", views.slack_interactions, name="slack_interactions"),
]
