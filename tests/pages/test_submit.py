"""Submitting: the form is generated from the recipe's inputs; errors stay in place."""

from __future__ import annotations

from approvals.models import Request, Workflow


def test_choose_lists_the_workflows_i_may_use(purchase_order, every_type, as_user, requester):
    html = as_user(requester).get("/new/").content.decode()
    assert 'href="/new/purchase_order/"' in html
    assert "Every input type" in html


def test_the_form_is_generated_from_the_inputs(every_type, as_user, requester, outsider):
    html = as_user(requester).get("/new/every_type/").content.decode()
    # money: a number box with cents and its bounds
    assert 'name="in-amount"' in html and 'step="0.01"' in html and 'max="500"' in html
    assert 'name="in-count"' in html and 'min="1"' in html
    assert 'name="in-vendor"' in html and 'maxlength="20"' in html
    assert '<textarea name="in-notes"' in html
    assert 'type="checkbox" name="in-urgent"' in html
    assert 'type="date" name="in-needed_by"' in html
    assert '<select name="in-kind"' in html and '<option value="b">' in html
    # a person picker: a text box tied to a datalist of active people
    assert 'list="people-list"' in html and '<datalist id="people-list">' in html
    assert f'<option value="{outsider.username}">' in html
    # labels point at their fields (keyboard and screen readers)
    assert '<label for="id_in-backup">Backup approver' in html


def test_submit_creates_the_request_and_shows_it(purchase_order, as_user, requester):
    response = as_user(requester).post(
        "/new/purchase_order/",
        {"title": "New laptops", "in-amount": "1200", "in-vendor": "Acme",
         "in-category": "hardware"},
    )
    req = Request.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/requests/{req.pk}/"
    assert req.inputs == {"amount": "1200.00", "vendor": "Acme", "category": "hardware"}
    assert req.title == "New laptops"
    assert req.requester == requester
    assert req.state == "pending"


def test_out_of_range_and_missing_values_are_shown_on_their_fields(every_type, as_user,
                                                                  requester):
    response = as_user(requester).post(
        "/new/every_type/", {"in-amount": "900", "in-count": "0", "in-kind": "zzz"}
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "amount" in form.errors and "count" in form.errors and "kind" in form.errors
    html = response.content.decode()
    assert 'class="field field--error"' in html
    assert Request.objects.count() == 0


def test_an_unknown_person_is_refused_on_the_server(every_type, as_user, requester):
    response = as_user(requester).post(
        "/new/every_type/", {"in-amount": "10", "in-kind": "a", "in-backup": "nobody-here"}
    )
    assert response.status_code == 400
    assert "No active person" in response.context["form"].errors["backup"][0]
    assert Request.objects.count() == 0


def test_an_optional_person_may_be_left_out_through_the_api(every_type, requester):
    """It used to be a 500 (KeyError in clean_request_inputs)."""
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(requester)
    response = api.post(
        "/api/v1/requests/", {"workflow": "every_type", "inputs": {"amount": "10", "kind": "a"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Request.objects.get().inputs.get("backup") in (None, "")


def test_engine_faults_are_attached_to_their_fields(every_type, as_user, requester):
    # The form lets a huge amount through (no max in the recipe); the engine refuses it,
    # and its fault (path "inputs.budget") lands on the budget field.
    response = as_user(requester).post(
        "/new/every_type/", {"in-amount": "10", "in-kind": "a", "in-budget": "99999999999999"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["budget"] == ["is too large"]
    assert "is too large" in response.content.decode()
    assert Request.objects.count() == 0


def test_every_type_is_sent_to_the_engine_in_its_format(every_type, as_user, requester,
                                                       outsider):
    as_user(requester).post(
        "/new/every_type/",
        {
            "in-amount": "12.5", "in-count": "3", "in-ratio": "0.25", "in-vendor": "Acme",
            "in-notes": "two lines\nof notes", "in-urgent": "on", "in-needed_by": "2026-12-01",
            "in-kind": "b", "in-backup": outsider.username,
        },
    )
    req = Request.objects.get()
    assert req.inputs == {
        "amount": "12.50", "count": 3, "ratio": 0.25, "vendor": "Acme",
        "notes": "two lines\nof notes", "urgent": True, "needed_by": "2026-12-01",
        "kind": "b", "backup": "outsider",
    }


def test_a_workflow_i_may_not_use_is_refused_and_nothing_is_created(purchase_order, as_user,
                                                                    requester):
    Workflow.objects.filter(pk=purchase_order.pk).update(is_active=False)
    client = as_user(requester)
    response = client.post("/new/purchase_order/", {"in-amount": "10", "in-vendor": "Acme"})
    assert response.status_code == 404
    assert "no workflow" in response.content.decode().lower()
    assert client.get("/new/does-not-exist/").status_code == 404
    assert Request.objects.count() == 0
