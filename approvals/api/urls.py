"""The integration API's routes (included at /api/v1/). Ids in paths are matched as
text and parsed in the views, so ``/requests/abc/`` is a JSON 404, not an HTML one."""

from django.urls import path

from .views.requests import (
    RequestAttachmentsView,
    RequestCancelView,
    RequestCommentsView,
    RequestDetailView,
    RequestListCreateView,
    RequestResubmitView,
)
from .views.tasks import (
    TaskBulkDecisionView,
    TaskDecisionView,
    TaskDelegateView,
    TaskDetailView,
    TaskListView,
)
from .views.workflows import WorkflowDetailView, WorkflowListCreateView, WorkflowSimulateView

urlpatterns = [
    path("requests/", RequestListCreateView.as_view(), name="api-requests"),
    path("requests/<str:id>/", RequestDetailView.as_view(), name="api-request"),
    path("requests/<str:id>/comments/", RequestCommentsView.as_view(), name="api-request-comments"),
    path(
        "requests/<str:id>/attachments/",
        RequestAttachmentsView.as_view(),
        name="api-request-attachments",
    ),
    path("requests/<str:id>/cancel/", RequestCancelView.as_view(), name="api-request-cancel"),
    path(
        "requests/<str:id>/resubmit/", RequestResubmitView.as_view(), name="api-request-resubmit"
    ),
    path("tasks/", TaskListView.as_view(), name="api-tasks"),
    path("tasks/bulk-decision/", TaskBulkDecisionView.as_view(), name="api-tasks-bulk-decision"),
    path("tasks/<str:id>/", TaskDetailView.as_view(), name="api-task"),
    path("tasks/<str:id>/decision/", TaskDecisionView.as_view(), name="api-task-decision"),
    path("tasks/<str:id>/delegate/", TaskDelegateView.as_view(), name="api-task-delegate"),
    path("workflows/", WorkflowListCreateView.as_view(), name="api-workflows"),
    path("workflows/<str:key>/", WorkflowDetailView.as_view(), name="api-workflow"),
    path(
        "workflows/<str:key>/simulate/",
        WorkflowSimulateView.as_view(),
        name="api-workflow-simulate",
    ),
]
