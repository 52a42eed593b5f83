"""The generated org chart: a hierarchy of span about 7, roles, absences with chains."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password

from orgchart.models import Absence, Person, Role, RoleMembership

from .sink import Sink, history_rows

FIRST = (
    "Ada", "Alan", "Amir", "Ana", "Ben", "Bea", "Carl", "Chen", "Dana", "Dev", "Eli", "Emma",
    "Femi", "Fay", "Gus", "Gia", "Hana", "Hugo", "Ines", "Ivan", "Jon", "Jia", "Kai", "Kim",
    "Lea", "Leo", "Mia", "Max", "Nia", "Noah", "Omar", "Ola", "Pia", "Raj", "Rosa", "Sam",
    "Sara", "Tao", "Tess", "Uma", "Ugo", "Vera", "Vik", "Wen", "Will", "Xia", "Yara", "Yuri",
    "Zoe", "Zane"
)
LAST = (
    "Abe", "Baker", "Cho", "Diaz", "Eng", "Fox", "Garcia", "Hill", "Ito", "Jones", "Khan",
    "Lee", "Moreau", "Nowak", "Okafor", "Park", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda",
    "Vogel", "Wang", "Xu", "Young", "Zimmer"
)
DEPARTMENTS = (
    "engineering", "sales", "finance", "people", "legal", "operations", "marketing", "support",
    "security", "procurement"
)
TITLES = ("CEO", "VP", "Director", "Senior Manager", "Manager", "Team Lead", "Engineer")

# People the benchmarks log in as (usable password BENCH_PASSWORD); everyone else
# generated gets an unusable password.
BENCH_PASSWORD = "perf-bench-password"  # noqa: S105 (a local benchmark login, not a secret)
BENCH_USERS = ("bench_inbox", "bench_small", "bench_requester", "bench_auditor")
ROLE_FAMILIES = ("finance-approvers", "hr-leave-admin", "security-reviewers")


@dataclass
class Org:
    """What the request generator needs to know about the generated chart."""

    ids: list[int] = field(default_factory=list)  # every generated person, BFS order
    username: dict[int, str] = field(default_factory=dict)
    display: dict[int, str] = field(default_factory=dict)
    manager: dict[int, int | None] = field(default_factory=dict)
    role_members: dict[str, list[int]] = field(default_factory=dict)
    # Absent now -> delegate (absences covering the generation time only).
    away: dict[int, int] = field(default_factory=dict)
    bench: dict[str, int] = field(default_factory=dict)
    requesters: list[int] = field(default_factory=list)  # people with a manager
    roles_per_family: int = 1


def generate_org(sink: Sink, rnd: random.Random, *, people: int, workflows: int,
                 now: datetime, tag: str) -> Org:
    org = Org()
    first_id = sink.next_id(Person)
    unusable = "!" + "x" * 40  # what set_unusable_password stores: no login possible
    bench_hash = make_password(BENCH_PASSWORD)
    rows: list[dict[str, Any]] = []

    # Breadth first, so a manager's id is always below their reports' ids.
    depth = {first_id: 0}
    queue = [first_id]
    next_id = first_id + 1
    head = 0
    org.manager[first_id] = None
    while next_id < first_id + people:
        boss = queue[head]
        head += 1
        for _ in range(rnd.randint(4, 10)):  # span about 7
            if next_id >= first_id + people:
                break
            org.manager[next_id] = boss
            depth[next_id] = depth[boss] + 1
            queue.append(next_id)
            next_id += 1
    dept: dict[int, str] = {}
    for pid in queue:
        boss = org.manager[pid]
        if boss is None:
            dept[pid] = "executive"
        elif org.manager[boss] is None:
            dept[pid] = DEPARTMENTS[(pid - first_id) % len(DEPARTMENTS)]
        else:
            dept[pid] = dept[boss]

    for pid in queue:
        n = pid - first_id
        first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
        username = f"{tag}{n:06d}"
        display = f"{first} {last} {n}"
        org.username[pid] = username
        org.display[pid] = display
        rows.append(
            {
                "id": pid,
                "password": unusable,
                "last_login": None,
                "is_superuser": False,
                "username": username,
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.com",
                "is_staff": False,
                "is_active": True,
                "date_joined": now - timedelta(days=400 + n % 1000),
                "name": display,
                "manager_id": org.manager[pid],
                "department": dept[pid],
                "title": TITLES[min(depth[pid], len(TITLES) - 1)],
                "slack_user_id": "",
                "notification_channels": [],
                "is_service_account": False,
            }
        )
    # Benchmark users: real logins, placed under the CEO.
    for name in BENCH_USERS:
        pid = next_id
        next_id += 1
        org.manager[pid] = first_id
        org.username[pid] = name
        org.display[pid] = name.replace("_", " ").title()
        org.bench[name] = pid
        rows.append(
            {
                **rows[1 if len(rows) > 1 else 0],
                "id": pid,
                "password": bench_hash,
                "username": name,
                "first_name": "Bench",
                "last_name": name,
                "email": f"{name}@example.com",
                "name": org.display[pid],
                "manager_id": first_id,
                "title": "Benchmark user",
            }
        )
    sink.write(Person, rows)
    sink.write(Person.history.model, history_rows(rows, at=now - timedelta(days=400)))
    org.ids = queue
    org.requesters = [pid for pid in queue if org.manager[pid] is not None]

    _roles(sink, rnd, org, workflows=workflows, now=now)
    _absences(sink, rnd, org, now=now)
    return org


def _roles(sink: Sink, rnd: random.Random, org: Org, *, workflows: int, now: datetime) -> None:
    org.roles_per_family = max(1, workflows // 50)
    names = ["approval-admins", "auditors", "procurement-auditors"]
    names += [f"{fam}-{k}" for fam in ROLE_FAMILIES for k in range(org.roles_per_family)]
    role_id = sink.next_id(Role)
    roles = []
    ids = {}
    for name in names:
        ids[name] = role_id
        roles.append({"id": role_id, "name": name, "description": "generated"})
        role_id += 1
    sink.write(Role, roles)
    sink.write(Role.history.model, history_rows(roles, at=now - timedelta(days=400)))
    members = []
    member_id = sink.next_id(RoleMembership)
    pool = org.ids[1:] or org.ids
    for name in names:
        chosen = rnd.sample(pool, min(3, len(pool)))
        if name == "auditors":
            chosen = [org.bench["bench_auditor"]]
        org.role_members[name] = chosen
        for pid in chosen:
            members.append(
                {"id": member_id, "role_id": ids[name], "person_id": pid,
                 "created_at": now - timedelta(days=400)}
            )
            member_id += 1
    sink.write(RoleMembership, members)
    sink.write(RoleMembership.history.model, history_rows(members, at=now - timedelta(days=400)))


def _absences(sink: Sink, rnd: random.Random, org: Org, *, now: datetime) -> None:
    """About 2% of people away now (some delegating to someone who is away too: a
    chain), 3% with an absence that ended; role members and the benchmark users stay."""
    busy = {pid for members in org.role_members.values() for pid in members}
    busy |= set(org.bench.values())
    candidates = [pid for pid in org.ids[1:] if pid not in busy]
    rows = []
    absence_id = sink.next_id(Absence)
    away_now = rnd.sample(candidates, len(candidates) // 50)
    for pid in away_now:
        boss = org.manager[pid]
        peers = [p for p in (boss, org.manager.get(boss) if boss else None) if p and p != pid]
        # A third delegate to another absent person: chains of two or three hops.
        if away_now and rnd.random() < 0.33:
            delegate = rnd.choice(away_now)
        else:
            delegate = peers[0] if peers else None
        if delegate == pid or delegate is None:
            continue
        org.away[pid] = delegate
        rows.append(_absence(absence_id, pid, delegate, now - timedelta(days=rnd.randint(1, 5)),
                             now + timedelta(days=rnd.randint(3, 14))))
        absence_id += 1
    for pid in rnd.sample(candidates, len(candidates) * 3 // 100):
        if pid in org.away:
            continue
        start = now - timedelta(days=rnd.randint(30, 300))
        rows.append(_absence(absence_id, pid, org.manager[pid], start,
                             start + timedelta(days=rnd.randint(1, 14))))
        absence_id += 1
    sink.write(Absence, rows)
    sink.write(Absence.history.model, history_rows(rows, at=now - timedelta(days=5)))


def _absence(pk: int, pid: int, delegate: int | None, start: datetime,
             end: datetime) -> dict[str, Any]:
    return {
        "id": pk, "person_id": pid, "start": start, "end": end, "delegate_id": delegate,
        "workflows": [], "move_open_tasks": False, "tasks_moved_at": None,
        "note": "generated", "created_at": start - timedelta(days=1),
    }
