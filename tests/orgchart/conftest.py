"""Org chart tests create many people: a fast password hasher keeps them quick
(the default PBKDF2 costs ~0.2 s per person, which is the point in production)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
