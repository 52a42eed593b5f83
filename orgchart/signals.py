"""Signals the org chart sends for the engine to act on.

``person_deactivated`` is sent by ``services.person_deactivate`` *inside* its
transaction, with ``sender=Person``, ``person`` and ``actor`` (a Person or
None). The engine connects a receiver that moves the person's open tasks to
their manager through its own services and audits it; a receiver that raises
rolls the deactivation back, so nobody is left holding tasks they cannot act on.
"""

from __future__ import annotations

from django.dispatch import Signal

person_deactivated = Signal()
