"""Delivery channels. Each module has ``available(person)`` and ``send(row, merged)``;
``send`` raises DeliveryError (or any exception) when the message did not go out."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from .base import DeliveryError

if TYPE_CHECKING:
    from orgchart.models import Person

__all__ = ["DeliveryError", "channel_available", "channel_module"]


def channel_module(channel: str) -> ModuleType:
    from . import email, slack, teams, webhook

    modules = {"email": email, "slack": slack, "teams": teams, "webhook": webhook}
    if channel not in modules:
        raise DeliveryError(f"unknown channel {channel!r}", permanent=True)
    return modules[channel]


def channel_available(channel: str, person: Person) -> bool:
    """Whether ``channel`` is configured and can reach ``person``."""
    try:
        return bool(channel_module(channel).available(person))
    except DeliveryError:
        return False
