"""Sessions: Django's database sessions, read by config.sessions with one plain query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from config.sessions import SessionStore

pytestmark = pytest.mark.django_db


def logged_in(person) -> tuple[Client, str]:
    client = Client()
    client.force_login(person)
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


def with_cookie(key: str) -> Client:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    return client


def test_the_project_uses_it():
    assert settings.SESSION_ENGINE == "config.sessions"


def test_it_reads_what_django_wrote_and_reads_it_as_django_does(requester):
    _, key = logged_in(requester)
    assert SessionStore(key).load() == DjangoStore(key).load() != {}
    assert with_cookie(key).get("/").status_code == 200


def test_a_session_ended_by_logout_is_not_read_again(requester):
    client, key = logged_in(requester)
    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=key).exists()
    assert SessionStore(key).load() == {}
    assert with_cookie(key).get("/")["Location"].startswith(settings.LOGIN_URL)


def test_an_expired_session_is_not_read(requester):
    _, key = logged_in(requester)
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    store = SessionStore(key)
    assert store.load() == {} and store.session_key is None  # a new key when saved
    assert with_cookie(key).get("/")["Location"].startswith(settings.LOGIN_URL)
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(minutes=1)
    )
    assert SessionStore(key).load() != {}


def test_unknown_and_tampered_sessions_are_empty(requester):
    assert SessionStore("x" * 32).load() == {}
    _, key = logged_in(requester)
    Session.objects.filter(session_key=key).update(session_data="not-signed-data")
    assert SessionStore(key).load() == {}
    assert with_cookie(key).get("/")["Location"].startswith(settings.LOGIN_URL)
