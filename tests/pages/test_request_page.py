"""The request page: inputs, state and why it waits, timeline, diagram, audit, actions."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from approvals import services
from approvals.models import Attachment, Comment
from tests.pages.conftest import open_task


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_page_shows_inputs_state_reason_timeline_and_audit(make_po, as_user, requester):
    req = make_po(amount="7000.00", vendor="Acme", reason="Two servers")
    response = as_user(requester).get(f"/requests/{req.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "7,000.00" in html and "Acme" in html and "Two servers" in html
    assert 'class="state state--pending"' in html
    assert "data-pending-reason" in html and "Bob Manager" in html
    assert "Submitted" in html and "Assigned" in html  # the timeline, from the audit events
    assert "request_submitted" in html  # the audit record table
    assert "Cancel request" in html  # the requester's action


def test_the_diagram_of_the_version_is_included(make_po, as_user, requester):
    req = make_po()
    html = as_user(requester).get(f"/requests/{req.pk}/").content.decode()
    assert "<svg" in html


def test_outsider_cannot_see_a_restricted_request(make_po, as_user, outsider):
    req = make_po()
    response = as_user(outsider).get(f"/requests/{req.pk}/")
    assert response.status_code == 404
    assert "Acme" not in response.content.decode()


def test_a_viewer_role_may_see_it_but_not_decide(make_po, as_user, procurement_auditor):
    req = make_po()
    html = as_user(procurement_auditor).get(f"/requests/{req.pk}/").content.decode()
    assert "Acme" in html
    assert "Your decision" not in html
    assert "Cancel request" not in html


def test_assignee_decides_on_the_page(make_po, as_user, manager):
    req = make_po(amount="100.00")
    client = as_user(manager)
    html = client.get(f"/requests/{req.pk}/").content.decode()
    assert "Your decision" in html
    task = open_task(req)
    response = client.post(
        f"/tasks/{task.pk}/decide/",
        {"decision": "approve", "next": f"/requests/{req.pk}/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/requests/{req.pk}/"
    assert "state--approved" in response.content.decode()


def test_requester_cancels(make_po, as_user, requester):
    req = make_po()
    response = as_user(requester).post(f"/requests/{req.pk}/cancel/", {"comment": "not needed"},
                                       follow=True)
    req.refresh_from_db()
    assert req.state == "cancelled"
    assert any("cancelled" in m for m in messages_of(response))


def test_someone_else_cannot_cancel(make_po, as_user, manager):
    req = make_po()
    response = as_user(manager).post(f"/requests/{req.pk}/cancel/", follow=True)
    assert messages_of(response)
    req.refresh_from_db()
    assert req.state == "pending"


def test_resubmit_after_changes_is_prefilled_and_runs_again(make_po, as_user, requester,
                                                             manager):
    req = make_po(amount="1200.00", vendor="Acme")
    services.decide(task_id=open_task(req).pk, actor=manager, decision="request_changes",
                    comment="Cheaper vendor please")
    client = as_user(requester)
    page = client.get(f"/requests/{req.pk}/")
    assert "Edit and resubmit" in page.content.decode()
    form_page = client.get(f"/requests/{req.pk}/resubmit/")
    html = form_page.content.decode()
    assert 'value="1200.00"' in html and 'value="Acme"' in html
    response = client.post(f"/requests/{req.pk}/resubmit/",
                           {"in-amount": "900", "in-vendor": "Budget Ltd"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.state == "pending"
    assert req.inputs["vendor"] == "Budget Ltd"
    assert req.round == 1


def test_resubmit_with_bad_values_keeps_the_request_as_it_was(make_po, as_user, requester,
                                                              manager):
    req = make_po()
    services.decide(task_id=open_task(req).pk, actor=manager, decision="request_changes",
                    comment="?")
    response = as_user(requester).post(f"/requests/{req.pk}/resubmit/",
                                       {"in-amount": "-5", "in-vendor": ""})
    assert response.status_code == 400
    assert set(response.context["form"].errors) >= {"amount", "vendor"}
    req.refresh_from_db()
    assert req.state == "changes_requested"


def test_resubmit_of_a_pending_request_is_refused(make_po, as_user, requester):
    req = make_po()
    response = as_user(requester).get(f"/requests/{req.pk}/resubmit/", follow=True)
    assert messages_of(response)
    req.refresh_from_db()
    assert req.state == "pending" and req.round == 0


def test_a_question_does_not_send_the_request_back(make_po, as_user, manager):
    req = make_po()
    response = as_user(manager).post(f"/requests/{req.pk}/comments/",
                                     {"text": "Is this the cheapest quote?"}, follow=True)
    assert "Is this the cheapest quote?" in response.content.decode()
    req.refresh_from_db()
    assert req.state == "pending"
    assert Comment.objects.filter(request=req).count() == 1


def test_an_empty_comment_is_refused_in_place(make_po, as_user, manager):
    req = make_po()
    response = as_user(manager).post(f"/requests/{req.pk}/comments/", {"text": ""})
    assert response.status_code == 400
    assert response.context["comment_form"].errors
    assert not Comment.objects.exists()


def test_outsider_cannot_comment_on_a_restricted_request(make_po, as_user, outsider):
    req = make_po()
    response = as_user(outsider).post(f"/requests/{req.pk}/comments/", {"text": "hi"})
    assert response.status_code == 404
    assert not Comment.objects.exists()


def test_attachments_upload_and_download_for_those_who_may_see(make_po, as_user, requester,
                                                              manager, outsider):
    req = make_po()
    upload = SimpleUploadedFile("quote.pdf", b"%PDF-1.4 quote", content_type="application/pdf")
    as_user(requester).post(f"/requests/{req.pk}/attachments/", {"file": upload})
    attachment = Attachment.objects.get()
    url = f"/requests/{req.pk}/attachments/{attachment.pk}/"
    page = as_user(manager).get(f"/requests/{req.pk}/").content.decode()
    assert "quote.pdf" in page and url in page
    download = as_user(manager).get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 quote"
    assert "attachment" in download["Content-Disposition"]
    assert as_user(outsider).get(url).status_code == 404


def test_a_refused_file_type_changes_nothing(make_po, as_user, requester):
    req = make_po()
    upload = SimpleUploadedFile("run.exe", b"MZ...", content_type="application/octet-stream")
    response = as_user(requester).post(f"/requests/{req.pk}/attachments/", {"file": upload},
                                       follow=True)
    assert any("not accepted" in m for m in messages_of(response))
    assert not Attachment.objects.exists()


def test_an_attachment_of_another_request_is_not_served(make_po, as_user, requester):
    first, second = make_po(), make_po()
    upload = SimpleUploadedFile("a.txt", b"secret", content_type="text/plain")
    as_user(requester).post(f"/requests/{first.pk}/attachments/", {"file": upload})
    attachment = Attachment.objects.get()
    response = as_user(requester).get(f"/requests/{second.pk}/attachments/{attachment.pk}/")
    assert response.status_code == 404


def test_unknown_request_is_a_404_page(as_user, requester):
    assert as_user(requester).get("/requests/424242/").status_code == 404


def test_a_viewer_who_may_not_attach_gets_no_upload_form(make_po, as_user, requester,
                                                         procurement_auditor):
    req = make_po()
    assert 'enctype="multipart/form-data"' in as_user(requester).get(
        f"/requests/{req.pk}/").content.decode()
    html = as_user(procurement_auditor).get(f"/requests/{req.pk}/").content.decode()
    assert 'enctype="multipart/form-data"' not in html



def test_a_task_link_leads_to_its_request_page_and_is_a_404_for_others(
    make_po, as_user, manager, outsider
):
    from approvals.notifications.links import task_url

    req = make_po(amount="100.00")
    task = open_task(req)
    assert task_url(task.pk).endswith(f"/tasks/{task.pk}/")
    client = as_user(manager)
    response = client.get(f"/tasks/{task.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/requests/{req.pk}/#task-{task.pk}"
    assert f'id="task-{task.pk}"' in client.get(response["Location"]).content.decode()
    assert as_user(outsider).get(f"/tasks/{task.pk}/").status_code == 404
    assert client.get("/tasks/999999999/").status_code == 404
