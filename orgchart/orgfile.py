"""Reading an org file (YAML, JSON or CSV, as an HR system exports it) into typed
entries, each with the line it came from, so every refusal can name its line.

The format is ``/work/shared/examples/org.yaml``:

- ``people``: a list of ``{username, name, email, title, department, manager, active}``;
- ``roles``: ``{role-name: [usernames]}``: the role's members, exactly;
- ``out_of_office``: a list of ``{person, start, end, delegate, workflows,
  move_open_tasks, note}``. Date-only ``start``/``end`` are whole days in
  ``settings.TIME_ZONE``: ``start`` at 00:00, ``end`` inclusive (the absence ends
  at 00:00 of the day after).

CSV has one row per person with the columns ``username,name,email,title,
department,manager,active`` and an optional ``roles`` column: role names
separated by ``;``, the person's roles exactly. CSV carries no absences.
A person's listed fields are what the file says (an absent key is empty, ``active``
defaults to true); fields the file does not speak of are left alone.

Only the shape of the file is checked here; ``orgsync`` checks it against the chart.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .errors import OrgChartError, OrgFault

FORMATS = ("yaml", "json", "csv")
PERSON_KEYS = ("username", "name", "email", "title", "department", "manager", "active")
CSV_COLUMNS = (*PERSON_KEYS, "roles")
ABSENCE_KEYS = ("person", "start", "end", "delegate", "workflows", "move_open_tasks", "note")
TOP_KEYS = ("people", "roles", "out_of_office")
USERNAME_RE = re.compile(r"^[\w.@+-]{1,150}\Z")
ROLE_RE = re.compile(r"^[-a-zA-Z0-9_]{1,100}\Z")
WORKFLOW_RE = re.compile(r"^[a-z0-9_-]{1,100}\Z")
TEXT_LIMITS = {"name": 200, "email": 254, "title": 200, "department": 100, "note": 300}
TRUE = {"true", "yes", "y", "1", "on"}
FALSE = {"false", "no", "n", "0", "off"}


@dataclass
class PersonEntry:
    line: int | None
    where: str
    username: str
    name: str = ""
    email: str = ""
    title: str = ""
    department: str = ""
    manager: str | None = None
    active: bool = True
    roles: list[str] | None = None  # CSV only: the person's roles, exactly


@dataclass
class RoleEntry:
    line: int | None
    where: str
    name: str
    members: list[str]


@dataclass
class AbsenceEntry:
    line: int | None
    where: str
    person: str
    start: datetime
    end: datetime
    delegate: str | None = None
    workflows: list[str] = field(default_factory=list)
    move_open_tasks: bool = False
    note: str = ""


@dataclass
class OrgFile:
    format: str
    people: list[PersonEntry] = field(default_factory=list)
    roles: list[RoleEntry] = field(default_factory=list)
    absences: list[AbsenceEntry] = field(default_factory=list)


def day_window(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """An absence's [start, end) from what people write: a date is a whole day in
    settings.TIME_ZONE (start at 00:00, end *inclusive*, so 00:00 the day after);
    a naive datetime is in settings.TIME_ZONE; an aware one is kept."""
    tz = timezone.get_default_timezone()

    def moment(value: date | datetime, *, is_end: bool) -> datetime:
        if isinstance(value, datetime):
            return value if timezone.is_aware(value) else timezone.make_aware(value, tz)
        day = value + timedelta(days=1) if is_end else value
        return timezone.make_aware(datetime.combine(day, time.min), tz)

    return moment(start, is_end=False), moment(end, is_end=True)


# --- YAML with lines ------------------------------------------------------------


class _Map(dict):
    line: int | None = None
    key_lines: dict[Any, int]


class _Seq(list):
    line: int | None = None


class _Loader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping and list, and refuses
    duplicate keys (PyYAML would silently keep the last)."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in result
        except TypeError as exc:
            raise _Refused(OrgFault("a key must be plain text", line=line)) from exc
        if duplicate:
            raise _Refused(OrgFault(f"duplicate key {key!r}", line=line))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


class _Refused(Exception):
    def __init__(self, fault: OrgFault):
        self.fault = fault
        super().__init__(str(fault))


def _line_of(value: Any, default: int | None = None) -> int | None:
    return getattr(value, "line", None) or default


# --- entry points ----------------------------------------------------------------


def detect_format(text: str, filename: str = "") -> str:
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    if suffix in ("yaml", "yml"):
        return "yaml"
    if suffix in ("json", "csv"):
        return suffix
    head = text.lstrip()
    if head.startswith(("{", "[")):
        return "json"
    first = head.splitlines()[0] if head else ""
    if "username" in first and ":" not in first and ("," in first or ";" in first):
        return "csv"
    return "yaml"


def parse_org(text: str, *, fmt: str | None = None, filename: str = "") -> OrgFile:
    """Parse an org file; raise ``OrgChartError`` with every located fault."""
    text = text.removeprefix("\ufeff")  # spreadsheets save a byte-order mark
    fmt = fmt or detect_format(text, filename)
    if fmt not in FORMATS:
        raise OrgChartError(f"unknown format {fmt!r} (use yaml, json or csv)")
    reader = _Reader(fmt)
    if fmt == "csv":
        reader.read_csv(text)
    else:
        reader.read_tree(_load_tree(text, fmt))
    if reader.faults:
        raise OrgChartError(
            f"the org file has {len(reader.faults)} problem(s)", faults=reader.faults
        )
    return reader.org


def _load_tree(text: str, fmt: str) -> Any:
    if fmt == "json":
        try:
            plain = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OrgChartError(
                "the file is not valid JSON", faults=[OrgFault(exc.msg, line=exc.lineno)]
            ) from exc
        try:  # JSON is YAML: read it again for the lines, when PyYAML agrees
            return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
        except (yaml.YAMLError, _Refused):
            return plain
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except _Refused as exc:
        raise OrgChartError("the org file has a problem", faults=[exc.fault]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise OrgChartError(
            "the file is not valid YAML",
            faults=[OrgFault(problem, line=mark.line + 1 if mark else None)],
        ) from exc


class _Reader:
    def __init__(self, fmt: str):
        self.org = OrgFile(format=fmt)
        self.faults: list[OrgFault] = []

    def fault(self, message: str, line: int | None, where: str = "") -> None:
        self.faults.append(OrgFault(message, line=line, where=where))

    # --- YAML / JSON -----------------------------------------------------------
    def read_tree(self, tree: Any) -> None:
        if tree is None:
            self.fault("the file is empty", 1)
            return
        if not isinstance(tree, dict):
            self.fault("the file must be a mapping with people, roles, out_of_office", 1)
            return
        lines = getattr(tree, "key_lines", {})
        for key in tree:
            if key not in TOP_KEYS:
                self.fault(f"unknown key {key!r} (expected {', '.join(TOP_KEYS)})", lines.get(key))
        people = tree.get("people") or []
        if not isinstance(people, list):
            self.fault("people must be a list", lines.get("people"), "people")
            people = []
        for i, item in enumerate(people):
            self._person(item, f"people[{i}]", _line_of(item, lines.get("people")))
        roles = tree.get("roles") or {}
        if not isinstance(roles, dict):
            self.fault("roles must map role names to lists of usernames", lines.get("roles"))
            roles = {}
        role_lines = getattr(roles, "key_lines", {})
        for name, members in roles.items():
            self._role(name, members, role_lines.get(name, lines.get("roles")))
        absences = tree.get("out_of_office") or []
        if not isinstance(absences, list):
            self.fault("out_of_office must be a list", lines.get("out_of_office"))
            absences = []
        for i, item in enumerate(absences):
            self._absence(item, f"out_of_office[{i}]", _line_of(item, lines.get("out_of_office")))

    def _text(self, item: dict, key: str, line: int | None, where: str) -> str:
        value = item.get(key)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fault(f"{key} must be text", line, where)
            return ""
        value = str(value).strip()
        if len(value) > TEXT_LIMITS.get(key, 150):
            self.fault(f"{key} is longer than {TEXT_LIMITS.get(key, 150)} characters", line, where)
        return value

    def _username(self, value: Any, key: str, line: int | None, where: str) -> str | None:
        if not isinstance(value, str) or not USERNAME_RE.match(value.strip()):
            self.fault(
                f"{key} must be a username (letters, digits and @.+-_), not {value!r}", line, where
            )
            return None
        return value.strip()

    def _bool(self, value: Any, key: str, line: int | None, where: str, default: bool) -> bool:
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        if not text:
            return default
        self.fault(f"{key} must be true or false, not {value!r}", line, where)
        return default

    def _person(self, item: Any, where: str, line: int | None, *, csv_row: bool = False) -> None:
        if not isinstance(item, dict):
            self.fault("a person must be a mapping with a username", line, where)
            return
        for key in item:
            if key not in (CSV_COLUMNS if csv_row else PERSON_KEYS):
                self.fault(f"unknown key {key!r}", line, where)
        username = self._username(item.get("username"), "username", line, where)
        if username is None:
            return
        where = f"{where} ({username})"
        email = self._text(item, "email", line, where)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                self.fault(f"email {email!r} is not an email address", line, where)
        manager = item.get("manager")
        if manager not in ("", None):
            manager = self._username(manager, "manager", line, where)
        manager = manager or None
        entry = PersonEntry(
            line=line,
            where=where,
            username=username,
            name=self._text(item, "name", line, where),
            email=email,
            title=self._text(item, "title", line, where),
            department=self._text(item, "department", line, where),
            manager=manager,
            active=self._bool(item.get("active"), "active", line, where, True),
        )
        if csv_row and "roles" in item:
            names = [n.strip() for n in (item.get("roles") or "").split(";") if n.strip()]
            for name in names:
                if not ROLE_RE.match(name):
                    self.fault(f"role name {name!r} is not a slug", line, where)
            entry.roles = names
        self.org.people.append(entry)

    def _role(self, name: Any, members: Any, line: int | None) -> None:
        where = f"roles.{name}"
        if not isinstance(name, str) or not ROLE_RE.match(name):
            self.fault(f"role name {name!r} must be letters, digits, - and _", line, where)
            return
        if members is None:
            members = []
        if not isinstance(members, list):
            self.fault("a role's members must be a list of usernames", line, where)
            return
        usernames: list[str] = []
        for member in members:
            username = self._username(member, "member", line, where)
            if username is None:
                continue
            if username in usernames:
                self.fault(f"{username!r} is listed twice", line, where)
                continue
            usernames.append(username)
        self.org.roles.append(RoleEntry(line=line, where=where, name=name, members=usernames))

    def _moment(self, value: Any, key: str, line: int | None, where: str) -> date | None:
        if isinstance(value, datetime | date):
            return value
        if isinstance(value, str):
            text = value.strip()
            parsed = parse_date(text) if len(text) == 10 else None
            try:
                parsed = parsed or parse_datetime(text)
            except ValueError:
                parsed = None
            if parsed is not None:
                return parsed
        self.fault(
            f"{key} must be a date (2026-01-31) or a date and time, not {value!r}", line, where
        )
        return None

    def _absence(self, item: Any, where: str, line: int | None) -> None:
        if not isinstance(item, dict):
            self.fault("an absence must be a mapping with person, start and end", line, where)
            return
        for key in item:
            if key not in ABSENCE_KEYS:
                self.fault(f"unknown key {key!r}", line, where)
        for key in ("person", "start", "end"):
            if item.get(key) in (None, ""):
                self.fault(f"{key} is required", line, where)
        person = self._username(item.get("person"), "person", line, where)
        if person is None:
            return
        where = f"{where} ({person})"
        start = self._moment(item.get("start"), "start", line, where)
        end = self._moment(item.get("end"), "end", line, where)
        delegate = item.get("delegate")
        delegate = (
            None if delegate in (None, "") else self._username(delegate, "delegate", line, where)
        )
        workflows = item.get("workflows") or []
        if not isinstance(workflows, list) or not all(
            isinstance(w, str) and WORKFLOW_RE.match(w) for w in workflows
        ):
            self.fault("workflows must be a list of workflow keys", line, where)
            workflows = []
        if start is None or end is None:
            return
        try:
            begins, ends = day_window(start, end)
        except OverflowError:
            self.fault(f"the end ({end}) is past the last date there is", line, where)
            return
        if ends <= begins:
            self.fault(f"the end ({end}) is before the start ({start})", line, where)
            return
        self.org.absences.append(
            AbsenceEntry(
                line=line,
                where=where,
                person=person,
                start=begins,
                end=ends,
                delegate=delegate,
                workflows=list(workflows),
                move_open_tasks=self._bool(
                    item.get("move_open_tasks"), "move_open_tasks", line, where, False
                ),
                note=self._text(item, "note", line, where),
            )
        )

    # --- CSV ---------------------------------------------------------------------
    def read_csv(self, text: str) -> None:
        first = text.splitlines()[0] if text.strip() else ""
        delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
        rows = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        header = [h.strip() for h in (rows.fieldnames or [])]
        if "username" not in header:
            self.fault(f"the header must name the columns {', '.join(CSV_COLUMNS)}", 1)
            return
        for column in header:
            if column not in CSV_COLUMNS:
                self.fault(f"unknown column {column!r} (expected {', '.join(CSV_COLUMNS)})", 1)
        rows.fieldnames = header
        for number, row in enumerate(rows, start=1):
            line = rows.line_num
            if None in row:
                self.fault("the row has more cells than the header", line, f"row {number}")
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            cells = {k: (v or "").strip() for k, v in row.items() if k in CSV_COLUMNS}
            self._person(cells, f"row {number}", line, csv_row=True)
