"""Playwright in headless Chromium against pytest-django's live server.

Debian's chromium is used (Playwright never downloads a browser here): set
CHROMIUM_PATH, or have ``chromium`` on PATH. Without one every browser test
skips and says why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; Django's async guard
# would refuse the live server's database calls made from the test body.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Logins go through the real form; a fast hasher keeps each one from costing a second."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _executable(path: str | None) -> bool:
    return bool(path) and Path(path).is_file() and os.access(path, os.X_OK)


def chromium_path() -> tuple[str | None, str]:
    """The Chromium to drive, or None and the reason there is none."""
    wanted = os.environ.get("CHROMIUM_PATH")
    if wanted:
        if _executable(wanted):
            return wanted, ""
        return None, f"CHROMIUM_PATH={wanted} is not an executable file"
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium"):
        if _executable(candidate):
            return candidate, ""
    return None, "no Chromium found: install Debian's `chromium` or set CHROMIUM_PATH"


# One Playwright and one Chromium per test process, however many conftests import
# the ``browser`` fixture (tests/audit does): the sync API allows only one running
# Playwright per thread. A count of the fixture instances closes it after the last.
_SHARED: dict[str, Any] = {"users": 0}


def _shared_browser(path: str) -> Any:
    if "browser" not in _SHARED:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        _SHARED["playwright"] = playwright
        _SHARED["browser"] = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
    _SHARED["users"] += 1
    return _SHARED["browser"]


def _release_browser() -> None:
    _SHARED["users"] -= 1
    if _SHARED["users"] == 0 and "browser" in _SHARED:
        _SHARED.pop("browser").close()
        _SHARED.pop("playwright").stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path, reason = chromium_path()
    if path is None:
        pytest.skip(reason)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed")
    yield _shared_browser(path)
    _release_browser()


class Session:
    """One person's browser window on the live server."""

    def __init__(self, context: Any, base_url: str):
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.page.set_default_timeout(10_000)
        self.csp_violations: list[str] = []
        self.page.on("console", self._console)
        # Confirm dialogs (cancel, remove) are accepted, as a person clicking OK would.
        self.page.on("dialog", lambda dialog: dialog.accept())

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_violations.append(message.text)

    def go(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        return self.page

    def login(self, username: str, password: str = "demo") -> Session:  # noqa: S107 - factories' test password
        page = self.go("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(self.base_url + "/")
        return self

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target


@pytest.fixture
def open_session(browser, live_server) -> Iterator[Callable[[str], Session]]:
    """``open_session("manager")``: a fresh, logged-in browser context for a persona."""
    sessions: list[Session] = []

    def make(username: str) -> Session:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        session = Session(context, live_server.url)
        sessions.append(session)
        return session.login(username)

    yield make
    for session in sessions:
        assert not session.csp_violations, session.csp_violations
        session.context.close()
