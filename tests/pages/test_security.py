"""Login, CSRF and the Content-Security-Policy."""

from __future__ import annotations

from django.test import Client

from approvals.middleware import LOOSE, STRICT


def test_pages_need_a_login(client, db):
    for url in ("/", "/requests/", "/new/", "/me/out-of-office/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_login_page_logs_in_with_labels(client, requester):
    page = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username">' in page and '<label for="id_password">' in page
    response = client.post("/accounts/login/", {"username": "requester", "password": "demo"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_is_a_message_not_an_error(client, requester):
    response = client.post("/accounts/login/", {"username": "requester", "password": "nope"})
    assert response.status_code == 200
    assert 'class="form-errors"' in response.content.decode()


def test_logout_is_a_post(as_user, requester):
    client = as_user(requester)
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_posts_without_a_csrf_token_are_refused(make_po, requester, manager):
    req = make_po()
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    task = req.tasks.get()
    response = client.post(f"/tasks/{task.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.state == "open"


def test_pages_carry_a_strict_csp(as_user, requester):
    response = as_user(requester).get("/")
    assert response["Content-Security-Policy"] == STRICT
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_pages_have_no_inline_script_or_style(make_po, as_user, requester):
    req = make_po()
    client = as_user(requester)
    for url in ("/", "/requests/", f"/requests/{req.pk}/", "/new/", "/new/purchase_order/",
                "/me/out-of-office/", "/accounts/login/"):
        html = client.get(url).content.decode()
        assert "<script>" not in html and "<style" not in html and " style=" not in html, url
        assert " onclick=" not in html and " onsubmit=" not in html, url


def test_admin_and_api_docs_get_the_looser_policy(admin_client):
    assert admin_client.get("/admin/")["Content-Security-Policy"] == LOOSE
    assert admin_client.get("/api/v1/docs/")["Content-Security-Policy"] == LOOSE
