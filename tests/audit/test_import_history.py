"""import_history: past requests keep their original times and deciders."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from django.core.management import CommandError, call_command

from approvals.models import Decision, Request
from audit.models import AuditEvent
from audit.verify import verify_all
from orgchart.models import Person


def record(ref: str, amount: str, decided: str, **extra) -> dict:
    return {
        "ref": ref,
        "workflow": "purchase_order",
        "requester": "requester",
        "title": f"Order {ref}",
        "submitted_at": f"{decided}T08:00:00+02:00",
        "inputs": {"amount": amount, "vendor": "Acme"},
        "decisions": [
            {"step": "manager", "decider": "manager", "decision": "approve",
             "at": f"{decided}T10:00:00+02:00"},
            {"step": "finance", "decider": "olaf", "decision": "approve",
             "at": f"{decided}T16:30:00+02:00", "comment": "budget ok"},
        ],
        **extra,
    }


@pytest.fixture
def history_file(tmp_path):
    def write(records: list[dict], *, lines: bool = True):
        path = tmp_path / ("history.jsonl" if lines else "history.json")
        text = "\n".join(json.dumps(r) for r in records) if lines else json.dumps(records)
        path.write_text(text)
        return str(path)

    return write


def test_import_keeps_original_times_and_deciders(
    purchase_order, requester, manager, history_file, capsys
):
    path = history_file([
        record("PO-2", "9000.00", "2021-08-04"),
        record("PO-1", "52000.00", "2021-08-03", decisions=[
            {"step": "manager", "decider": "delegate", "on_behalf_of": "manager",
             "decision": "approve", "at": "2021-08-03T09:00:00Z"},
        ]),
    ])
    from tests.factories import PersonFactory
    PersonFactory(username="delegate")
    call_command("import_history", path, "--create-missing-people")
    assert "imported 2 requests" in capsys.readouterr().out

    first, second = Request.objects.filter(entity_type="imported").order_by("pk")
    assert (first.entity_id, second.entity_id) == ("PO-1", "PO-2")  # loaded oldest first
    assert first.created_at == datetime.fromisoformat("2021-08-03T06:00:00+00:00")
    assert first.state == "approved" and second.state == "approved"
    assert second.decided_at == datetime.fromisoformat("2021-08-04T14:30:00+00:00")

    decision = Decision.objects.get(request=second, decided_by__username="olaf")
    assert decision.created_at == datetime.fromisoformat("2021-08-04T14:30:00+00:00")
    olaf = Person.objects.get(username="olaf")
    assert not olaf.is_active  # someone who has left, kept for the record

    events = list(AuditEvent.objects.filter(request_id=second.pk).order_by("seq"))
    assert [e.event_type for e in events] == [
        "request_submitted", "task_decided", "task_decided", "request_approved"
    ]
    assert all(e.imported for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)  # chained in time order
    assert events[0].at == datetime.fromisoformat("2021-08-04T06:00:00+00:00")
    assert [e.actor_username for e in events[1:3]] == ["manager", "olaf"]
    behalf = AuditEvent.objects.get(request_id=first.pk, event_type="task_decided")
    assert behalf.actor_username == "delegate" and behalf.on_behalf_of_username == "manager"
    assert verify_all().ok


def test_imported_history_answers_the_auditors_question(
    client, auditor, purchase_order, requester, manager, history_file
):
    call_command("import_history", history_file([
        record("PO-1", "52000.00", "2021-08-03"),
        record("PO-2", "9000.00", "2021-08-04"),
        record("PO-3", "70000.00", "2021-11-02"),
    ], lines=False), "--create-missing-people")
    client.force_login(auditor)
    body = client.get("/api/v1/audit/", {
        "event_type": "request_approved", "inputs.amount__gte": "50000",
        "since": "2021-07-01", "until": "2021-10-01", "imported": "true",
    }).json()
    assert [e["payload"]["ref"] for e in body["results"]] == ["PO-1"]


def test_rerunning_an_import_skips_what_is_there(
    purchase_order, requester, manager, history_file, capsys
):
    path = history_file([record("PO-1", "52000.00", "2021-08-03")])
    call_command("import_history", path, "--create-missing-people")
    call_command("import_history", path, "--create-missing-people")
    assert "skipped 1" in capsys.readouterr().out
    assert Request.objects.filter(entity_type="imported").count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"submitted_at": "yesterday"}, "line 2: submitted_at"),
        ({"workflow": "no_such_flow"}, "no published workflow no_such_flow"),
        ({"decisions": [{"step": "m", "decider": "manager", "decision": "maybe",
                         "at": "2021-08-03T10:00:00Z"}]}, "decisions[0].decision"),
        ({"decisions": [{"step": "m", "decider": "manager", "decision": "approve",
                         "at": "2020-01-01T10:00:00Z"}]}, "before the request was submitted"),
        ({"requester": "ghost"}, "no person 'ghost'"),
    ],
)
def test_a_bad_record_imports_nothing_and_is_located(
    purchase_order, requester, manager, history_file, capsys, change, message
):
    good = record("PO-1", "52000.00", "2021-08-03", decisions=[])
    path = history_file([good, {**good, "ref": "PO-2", **change}])
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_history", path)
    assert message in capsys.readouterr().err
    assert not Request.objects.exists() and not AuditEvent.objects.exists()


def test_a_file_that_is_not_json_is_refused(db, tmp_path, capsys):
    path = tmp_path / "h.jsonl"
    path.write_text('{"ref": 1}\nnot json\n')
    with pytest.raises(CommandError):
        call_command("import_history", str(path))
    assert "line 2" in capsys.readouterr().err
