"""Start-up of the processes audit work is spread over (``audit_verify --workers``).

Spawned processes are fresh interpreters that begin by importing this module,
so it must import nothing that needs Django set up.
"""

from __future__ import annotations

from typing import Any


def start_django(database: dict[str, Any]) -> None:
    """Set Django up on the very database the parent process uses (the settings
    name it, unless a test run renamed it)."""
    import django

    django.setup()
    from django.db import connection

    connection.settings_dict.update(database)
