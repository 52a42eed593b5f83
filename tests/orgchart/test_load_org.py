"""load_org: the example file, idempotency, dry runs, CSV and JSON, and a corpus
of bad files, each refused with its located message and nothing written."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from orgchart.errors import OrgChartError
from orgchart.models import Absence, Person, Role
from orgchart.services import load_org
from orgchart.signals import person_deactivated
from tests.factories import PersonFactory

EXAMPLE = Path("/work/shared/examples/org.yaml")
DEMO = Path(__file__).resolve().parents[2] / "approvals" / "demo" / "org.yaml"
BAD_DIR = Path(__file__).resolve().parent / "bad_org"
BASE = "people:\n  - {username: grace}\n  - {username: bob, manager: grace}\n"


@pytest.fixture
def example_text() -> str:
    return (EXAMPLE if EXAMPLE.exists() else DEMO).read_text()


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("load_org", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def snapshot() -> tuple:
    return (
        sorted(Person.objects.values_list("username", "manager__username", "is_active", "title")),
        sorted(Role.objects.values_list("name", "members__username")),
        sorted(
            Absence.objects.values_list("person__username", "start", "end", "delegate__username")
        ),
    )


def history_rows() -> int:
    return (
        Person.history.count()
        + Role.history.count()
        + Absence.history.count()
        + Role.members.through.history.count()
    )


@pytest.mark.django_db
def test_the_example_loads_then_a_second_load_changes_nothing_and_says_so(tmp_path, example_text):
    path = tmp_path / "org.yaml"
    path.write_text(example_text)
    out, _ = run(str(path))
    assert "create person grace" in out
    assert Person.objects.get(username="dave").manager.username == "bob"
    assert not Person.objects.get(username="old").is_active
    assert sorted(
        Role.objects.get(name="finance-approvers").members.values_list("username", flat=True)
    ) == ["fiona", "frank"]
    before, rows = snapshot(), history_rows()
    out, _ = run(str(path))
    assert out.startswith("No changes: the org chart already matches the file")
    assert snapshot() == before
    assert history_rows() == rows  # not even a history row


@pytest.mark.django_db
def test_date_only_absences_cover_whole_days_in_the_configured_zone(settings, tmp_path):
    settings.TIME_ZONE = "Europe/Paris"
    text = """
people:
  - {username: bob}
  - {username: carol}
out_of_office:
  - {person: bob, start: 2026-03-02, end: 2026-03-06, delegate: carol}
"""
    load_org(text=text)
    absence = Absence.objects.get()
    paris = ZoneInfo("Europe/Paris")
    assert absence.start == datetime(2026, 3, 2, tzinfo=paris)
    assert absence.end == datetime(2026, 3, 7, tzinfo=paris)  # the end date is inclusive
    load_org(text=text)
    assert Absence.objects.count() == 1  # loading the same absence again does not duplicate it


@pytest.mark.django_db
def test_dry_run_prints_the_changes_and_writes_nothing(tmp_path, example_text):
    path = tmp_path / "org.yaml"
    path.write_text(example_text)
    out, _ = run(str(path), "--dry-run")
    assert "would create person grace" in out
    assert "Dry run, nothing written" in out
    assert Person.objects.count() == 0
    assert history_rows() == 0


@pytest.mark.django_db
def test_an_update_names_what_changed_and_leaves_people_missing_from_the_file_alone():
    load_org(text="people: [{username: grace}, {username: bob, manager: grace, title: Lead}]")
    PersonFactory(username="zoe", manager=Person.objects.get(username="grace"))
    report = load_org(text="people: [{username: vp}, {username: bob, manager: vp, title: Head}]")
    assert "update person bob: title 'Lead' -> 'Head'; manager grace -> vp" in report.lines()
    assert Person.objects.get(username="zoe").manager.username == "grace"
    assert Person.objects.get(username="grace").is_active


@pytest.mark.django_db
def test_a_person_turned_inactive_is_deactivated_through_the_service():
    load_org(text="people: [{username: grace}, {username: olga, manager: grace}]")
    heard = []

    def receiver(sender, person, actor, **kwargs):
        heard.append(person.username)

    person_deactivated.connect(receiver)
    try:
        report = load_org(text="people: [{username: olga, manager: grace, active: false}]")
    finally:
        person_deactivated.disconnect(receiver)
    assert heard == ["olga"]
    assert any("deactivate person olga" in line for line in report.lines())
    assert not Person.objects.get(username="olga").is_active


@pytest.mark.django_db
def test_a_role_listed_in_the_file_gets_exactly_its_members():
    load_org(text="people: [{username: a}, {username: b}, {username: c}]\nroles: {r: [a, b]}")
    load_org(text="roles: {r: [b, c]}")
    assert sorted(Role.objects.get(name="r").members.values_list("username", flat=True)) == [
        "b",
        "c",
    ]


@pytest.mark.django_db
def test_csv_with_a_roles_column_loads_and_is_idempotent(tmp_path):
    path = tmp_path / "hr.csv"
    path.write_text(
        "\ufeffusername,name,email,title,department,manager,active,roles\n"
        "grace,Grace Hopper,grace@example.com,CEO,executive,,true,approval-admins\n"
        "frank,Frank Fischer,frank@example.com,Controller,finance,grace,yes,"
        "finance-approvers;legal\n"
        "old,Olga Dorn,olga@example.com,Former,finance,grace,false,\n"
    )
    out, _ = run(str(path))
    frank = Person.objects.get(username="frank")
    assert frank.manager.username == "grace"
    assert sorted(frank.roles.values_list("name", flat=True)) == ["finance-approvers", "legal"]
    assert not Person.objects.get(username="old").is_active
    out, _ = run(str(path))
    assert out.startswith("No changes")
    path.write_text(
        "username,name,email,title,department,manager,active,roles\n"
        "frank,Frank Fischer,frank@example.com,Controller,finance,grace,yes,legal\n"
    )
    out, _ = run(str(path))
    assert "remove frank from role finance-approvers" in out
    assert list(frank.roles.values_list("name", flat=True)) == ["legal"]


@pytest.mark.django_db
def test_json_loads_like_yaml(tmp_path, example_text):
    import yaml

    data = yaml.safe_load(example_text)
    for absence in data["out_of_office"]:
        absence["start"], absence["end"] = str(absence["start"]), str(absence["end"])
    path = tmp_path / "org.json"
    path.write_text(json.dumps(data, indent=2))
    run(str(path))
    assert Person.objects.count() == 14
    assert Absence.objects.get(person__username="bob").delegate.username == "carol"
    out, _ = run(str(path))
    assert out.startswith("No changes")


# --- the corpus of bad files --------------------------------------------------------

# Each file of tests/orgchart/bad_org/ and the located message it must get.
EXPECTED = {
    "yaml-syntax.yaml": (3, "expected ',' or '}'"),
    "absence-end-out-of-range.yaml": (5, "is past the last date there is"),
    "json-syntax.json": (2, "Expecting property"),
    "not-a-mapping.yaml": (1, "must be a mapping"),
    "unknown-top-key.yaml": (1, "unknown key 'peeple'"),
    "unknown-person-key.yaml": (2, "unknown key 'boss'"),
    "missing-username.yaml": (2, "username must be a username"),
    "bad-username.yaml": (2, "username must be a username"),
    "bad-email.yaml": (2, "is not an email"),
    "bad-active.yaml": (2, "active must be true or false"),
    "duplicate-username.yaml": (4, "duplicate username 'bob' (first at line 3)"),
    "duplicate-yaml-key.yaml": (2, "duplicate key 'people'"),
    "unknown-manager.yaml": (4, "manager 'zed' is not in the file or the org chart"),
    "own-manager.yaml": (2, "cannot be their own manager"),
    "manager-cycle.yaml": (2, "manager cycle: a -> c -> b -> a"),
    "unknown-member.yaml": (5, "member 'ghost' is not in the file"),
    "bad-role-name.yaml": (5, "role name 'fin ance'"),
    "unknown-delegate.yaml": (5, "delegate 'zed' is not in the file or the org chart"),
    "unknown-absent-person.yaml": (5, "person 'zed' is not in the file or the org chart"),
    "delegate-is-self.yaml": (5, "the delegate must be someone other than the absent person"),
    "end-before-start.yaml": (5, "the end (2027-01-01) is before the start (2027-01-05)"),
    "bad-date.yaml": (5, "start must be a date"),
    "missing-end.yaml": (5, "end is required"),
    "overlap-in-file.yaml": (6, "overlaps the absence at line 5"),
    "move-without-delegate.yaml": (5, "move_open_tasks needs a delegate"),
    "csv-unknown-column.csv": (1, "unknown column 'nickname'"),
    "csv-no-username.csv": (1, "the header must name the columns"),
    "csv-extra-cells.csv": (2, "more cells than the header"),
    "csv-unknown-manager.csv": (3, "manager 'zed' is not in the file"),
    "csv-duplicate.csv": (4, "duplicate username 'a' (first at line 2)"),
    "csv-bad-active.csv": (2, "active must be true or false"),
}


@pytest.mark.django_db
def test_every_file_of_the_corpus_has_an_expectation():
    assert sorted(p.name for p in BAD_DIR.iterdir()) == sorted(EXPECTED)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_org_file_is_refused_with_a_located_message(name):
    line, message = EXPECTED[name]
    path = BAD_DIR / name
    PersonFactory(username="existing")
    before, rows = snapshot(), history_rows()
    with pytest.raises(CommandError, match="nothing was changed"):
        run(str(path))
    with pytest.raises(OrgChartError) as caught:
        load_org(text=path.read_text(), filename=name)
    located = [(f.line, str(f)) for f in caught.value.faults]
    assert any(fl == line and message in text_ for fl, text_ in located), located
    assert snapshot() == before
    assert history_rows() == rows


@pytest.mark.django_db
def test_the_command_prints_path_line_and_message(tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(BASE + "  - {username: dave, manager: zed}\n")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("load_org", str(path), stdout=out, stderr=err)
    assert f"{path}:4: people[2] (dave): manager 'zed' is not in the file" in err.getvalue()


@pytest.mark.django_db
def test_an_absence_overlapping_one_in_the_chart_is_refused():
    load_org(text=BASE + "out_of_office:\n  - {person: bob, start: 2027-01-01, end: 2027-01-10}\n")
    with pytest.raises(OrgChartError) as caught:
        load_org(text="out_of_office:\n  - {person: bob, start: 2027-01-05, end: 2027-01-12}\n")
    assert "overlaps bob's absence from 2027-01-01 00:00 to 2027-01-11 00:00" in str(
        caught.value.faults[0]
    )
    assert caught.value.faults[0].line == 2


@pytest.mark.django_db
def test_a_cycle_of_absences_is_legal_data():
    load_org(
        text=BASE
        + "out_of_office:\n"
        + "  - {person: bob, start: 2027-01-01, end: 2027-01-10, delegate: grace}\n"
        + "  - {person: grace, start: 2027-01-01, end: 2027-01-10, delegate: bob}\n"
    )
    assert Absence.objects.count() == 2


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read the file"):
        run(str(tmp_path / "nope.yaml"))
