"""The recipe editor and the reports page in headless Chromium (live server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from approvals import services
from tests.authoring.conftest import hours, make_request
from tests.browser.conftest import browser  # noqa: F401 (the shared Chromium)

# Playwright's sync API runs an event loop in this thread (see tests/browser/conftest.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GOOD_SMALL = 'workflow: po\ntitle: PO\nsteps:\n  - id: a\n    approver: "{{ requester.manager }}"\n'
BAD = 'workflow: po\ntitle: PO\nsteps:\n  - id: a\n    approver: "user:x"\n    bogus: 1\n'


@pytest.fixture
def page(browser, live_server, author, settings) -> Iterator[Any]:  # noqa: F811
    """An author's tab on the live server, in the one shared Chromium of this process."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    author.set_password("pw-for-tests")
    author.save()
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.csp = []
    tab.on("console", lambda m: "Content Security Policy" in m.text and tab.csp.append(m.text))
    tab.goto(f"{live_server.url}/admin/login/")
    tab.fill("#id_username", "author")
    tab.fill("#id_password", "pw-for-tests")
    tab.click("input[type=submit]")
    tab.base = live_server.url
    yield tab
    context.close()


def test_clicking_a_located_error_selects_its_line_in_the_editor(page):
    page.goto(f"{page.base}/admin/approvals/workflow/publish/")
    page.fill("#id_source", BAD)
    page.click("input[name=_publish]")

    page.click(".fault-link[data-line='6']")

    selected = page.evaluate(
        "() => { const t = document.querySelector('#id_source');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == "    bogus: 1"
    assert "▸6" in page.inner_text(".recipe-gutter")


def test_reports_page_keeps_to_the_strict_content_security_policy(page, requester, now):
    version, _ = services.publish(source=GOOD_SMALL)
    make_request(version.workflow, requester, created=now - hours(3), state="approved", decided=now)

    page.goto(f"{page.base}/reports/?workflow=po")

    assert page.locator("h1").inner_text() == "Reports"
    assert page.locator(".report-table tbody tr").count() >= 1
    assert page.csp == []
    # The stylesheet applied (a strict CSP would block it if it were inline).
    colour = page.eval_on_selector(".reports__button", "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(31, 111, 235)"
