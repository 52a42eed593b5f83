"""The employee pages, included at "/"."""

from django.urls import path

from approvals.views import actions, inbox, requests, submit

app_name = "approvals"

urlpatterns = [
    path("", inbox.inbox, name="inbox"),
    path("tasks/<int:task_id>/", requests.task_detail, name="task"),
    path("tasks/<int:task_id>/decide/", inbox.decide, name="decide"),
    path("tasks/bulk-decide/", inbox.bulk_decide, name="bulk_decide"),
    path("new/", submit.choose, name="choose"),
    path("new/<slug:key>/", submit.submit, name="submit"),
    path("requests/", requests.request_list, name="requests"),
    path("requests/<int:request_id>/", requests.request_detail, name="request"),
    path("requests/<int:request_id>/cancel/", actions.cancel, name="cancel"),
    path("requests/<int:request_id>/resubmit/", actions.resubmit, name="resubmit"),
    path("requests/<int:request_id>/comments/", actions.comment, name="comment"),
    path("requests/<int:request_id>/attachments/", actions.attach, name="attach"),
    path(
        "requests/<int:request_id>/attachments/<int:attachment_id>/",
        actions.download,
        name="download",
    ),
]
