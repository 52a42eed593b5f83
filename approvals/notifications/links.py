"""Absolute links in messages, and one-click action links: signed, expiring,
single-use tokens (django.core.signing with a salt; spent nonces in UsedToken)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from django.conf import settings
from django.core import signing
from django.core.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import get_language

# A salt of its own, so no other signed value of the project is accepted as a link.
ACTION_SALT = "approvals.notifications.action-link"
DECISIONS = ("approve", "reject", "request_changes")


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def url_for_id(name: str) -> Callable[[int], str]:
    """The path of a URL with one integer argument, reversed once and then formatted per
    id: for many rows (a page, a batch of messages), reverse() costs more than the rest."""
    marker = 1234567890  # an id that appears nowhere else in the URL
    before, after = reverse(name, args=[marker]).split(str(marker))
    return lambda pk: f"{before}{pk}{after}"


T = TypeVar("T")
# What reversed_once() keeps: (its name, URLconf, script prefix, language) -> value.
_REVERSED: dict[tuple[Hashable, Any, str, str | None], Any] = {}


def reversed_once(name: Hashable, build: Callable[[], T]) -> T:
    """``build()``, which reverses URLs, made once per process and per what reverse()
    depends on (the URLconf, the script prefix, the language): links every page shows
    cost more to reverse each time than the rest of their markup."""
    key = (name, get_urlconf(), get_script_prefix(), get_language())
    value = _REVERSED.get(key)
    if value is None:
        value = _REVERSED[key] = build()
    return value


def _forget_reversed(*, setting: str, **_: Any) -> None:
    if setting == "ROOT_URLCONF":  # tests' override_settings: the same key, other URLs
        _REVERSED.clear()


setting_changed.connect(_forget_reversed)


class Links:
    """The absolute links of requests and tasks. One instance serves many messages
    (a service call's, a sweep batch's): each URL is reversed at most once."""

    @cached_property
    def _request(self) -> Callable[[int], str]:
        return url_for_id("approvals:request")

    @cached_property
    def _task(self) -> Callable[[int], str]:
        return url_for_id("approvals:task")

    def request(self, request_id: int) -> str:
        return absolute(self._request(request_id))

    def task(self, task_id: int) -> str:
        """The task's link: it leads to its request's page, at the task."""
        return absolute(self._task(task_id))


def request_url(request_id: int) -> str:
    return Links().request(request_id)


def task_url(task_id: int) -> str:
    return Links().task(task_id)


class LinkError(Exception):
    """An action link that cannot be used; ``status`` is the page's HTTP status."""

    status = 400


class LinkInvalid(LinkError):
    status = 400


class LinkExpired(LinkError):
    status = 410


class LinkUsed(LinkError):
    status = 410


@dataclass(frozen=True)
class ActionClaim:
    """What a valid action link lets its holder do."""

    task_id: int
    person_id: int
    decision: str
    nonce: str
    via: str
    # Links posted where others can read them (a Teams or Slack channel) work only
    # for the person, logged in; links sent to a personal inbox are the credential.
    login_required: bool


def make_action_token(
    *, task_id: int, person_id: int, decision: str, via: str, login_required: bool = False
) -> str:
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    data = {
        "t": task_id,
        "p": person_id,
        "d": decision,
        "v": via,
        "l": int(login_required),
        "n": secrets.token_urlsafe(12),
    }
    return signing.dumps(data, salt=ACTION_SALT, compress=True)


def action_url(**kwargs: object) -> str:
    token = make_action_token(**kwargs)  # type: ignore[arg-type]
    return absolute(reverse("notifications:action", args=[token]))


def read_action_token(token: str) -> ActionClaim:
    """The claim of a valid, unexpired token, or LinkInvalid / LinkExpired.
    (Whether it was spent already is UsedToken's business: see views.)"""
    try:
        data = signing.loads(token, salt=ACTION_SALT, max_age=settings.ACTION_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise LinkExpired("This link has expired.") from exc
    except signing.BadSignature as exc:
        raise LinkInvalid("This link is not valid (it may have been altered).") from exc
    try:
        claim = ActionClaim(
            task_id=int(data["t"]),
            person_id=int(data["p"]),
            decision=str(data["d"]),
            nonce=str(data["n"]),
            via=str(data.get("v", "email")),
            login_required=bool(data.get("l")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid("This link is not valid.") from exc
    if claim.decision not in DECISIONS:
        raise LinkInvalid("This link is not valid.")
    return claim
