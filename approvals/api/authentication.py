"""DRF's token authentication, refusing malformed keys before they reach the database."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

# DRF's keys are 40 hex characters; anything else cannot be a key (and a NUL byte
# would make PostgreSQL raise instead of answering "no such key").
_KEY = re.compile(r"[0-9a-fA-F]{1,64}")


class StrictTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> Any:
        if not _KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
