"""Shared helpers of the recipe parser: the fault collector and key checks."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .refs import ROLE_NAME
from .schema import Fault
from .yamlloc import Loaded, child_path


@dataclass
class Context:
    """Collects every fault of one recipe, each located by path and line."""

    loaded: Loaded
    known_roles: Collection[str] | Mapping[str, Any] | None
    faults: list[Fault] = field(default_factory=list)
    # A published version's text: publish-time trials (samples of `when`) are skipped.
    published: bool = False

    def fault(self, path: str, message: str) -> None:
        self.faults.append(Fault(path, message, self.loaded.line(path)))

    def check_keys(
        self,
        mapping: Mapping[Any, Any],
        path: str,
        *,
        allowed: Iterable[str],
        required: Iterable[str] = (),
        what: str,
    ) -> None:
        allowed = tuple(allowed)
        for key in mapping:
            if key not in allowed:
                self.fault(
                    child_path(path, str(key)),
                    f"unknown key {key!r} in {what} (known keys: {', '.join(allowed)})",
                )
        for key in required:
            if key not in mapping:
                self.fault(child_path(path, key), f"{what} needs {key!r}")

    def string(
        self, mapping: Mapping[str, Any], key: str, path: str, *, nonempty: bool = False
    ) -> str | None:
        """The string at ``key``, or None (absent, or faulted)."""
        if key not in mapping or mapping[key] is None:
            return None
        value = mapping[key]
        where = child_path(path, key)
        if not isinstance(value, str):
            self.fault(where, f"{key} must be a string, not {type_name(value)}")
            return None
        if nonempty and not value.strip():
            self.fault(where, f"{key} must not be empty")
            return None
        return value

    def string_list(self, mapping: Mapping[str, Any], key: str, path: str) -> list[str]:
        if key not in mapping or mapping[key] is None:
            return []
        value = mapping[key]
        where = child_path(path, key)
        if not isinstance(value, list):
            self.fault(where, f"{key} must be a list of strings, not {type_name(value)}")
            return []
        out: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fault(f"{where}[{index}]", f"{key} must be a list of non-empty strings")
            elif item in out:
                self.fault(f"{where}[{index}]", f"{item!r} is listed twice")
            else:
                out.append(item)
        return out

    def check_role(self, name: str, path: str) -> None:
        if not ROLE_NAME.fullmatch(name):
            self.fault(path, f"{name!r} is not a role name (letters, digits, _ and -)")
        elif self.known_roles is not None and name not in self.known_roles:
            self.fault(path, f"there is no role named {name!r}")

    def role_size(self, name: str) -> int | None:
        """How many members a role has, when the caller said (known_roles as a mapping)."""
        if not isinstance(self.known_roles, Mapping) or name not in self.known_roles:
            return None
        members = self.known_roles[name]
        if isinstance(members, bool):
            return None
        if isinstance(members, int):
            return members
        if isinstance(members, Collection) and not isinstance(members, str):
            return len(members)
        return None


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
