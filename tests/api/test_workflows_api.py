"""Workflows through the API: list, read, publish (JSON and YAML), simulate."""

from __future__ import annotations

import json

import yaml

from approvals.models import WorkflowVersion
from tests.api.conftest import PUBLIC_RECIPE, client_for


def test_publish_yaml_creates_version_one_then_identical_content_is_200(author, admins_role):
    client = client_for(author)
    first = client.post("/api/v1/workflows/", PUBLIC_RECIPE, content_type="application/yaml")
    assert first.status_code == 201, first.content
    assert first.json() == {"workflow": "expense", "version": 1, "created": True}
    again = client.post("/api/v1/workflows/", PUBLIC_RECIPE, content_type="application/yaml")
    assert again.status_code == 200
    assert again.json() == {"workflow": "expense", "version": 1, "created": False}
    assert WorkflowVersion.objects.count() == 1


def test_publish_json_recipe(author, admins_role):
    recipe = yaml.safe_load(PUBLIC_RECIPE)
    recipe["title"] = "Expense claim"
    response = client_for(author).post("/api/v1/workflows/", recipe, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["workflow"] == "expense"


def test_a_bad_recipe_lists_every_fault_with_path_and_line(author, admins_role):
    bad = PUBLIC_RECIPE.replace("approver:", "aprover:") + "  - id: manager\n    action: maybe\n"
    response = client_for(author).post("/api/v1/workflows/", bad,
                                       content_type="application/yaml")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and all({"path", "message"} <= set(e) for e in errors)
    assert any(e.get("line") for e in errors)
    assert not WorkflowVersion.objects.exists()


def test_yaml_that_does_not_parse_is_400(author):
    response = client_for(author).post(
        "/api/v1/workflows/", "workflow: [unclosed\n  - :", content_type="application/yaml"
    )
    assert response.status_code == 400 and response.json()["errors"]


def test_a_json_array_is_not_a_recipe(author):
    response = client_for(author).post("/api/v1/workflows/", [1, 2], format="json")
    assert response.status_code == 400 and response.json()["errors"]


def test_invalid_utf8_yaml_is_400(author):
    response = client_for(author).post(
        "/api/v1/workflows/", b"workflow: \xff\xfe", content_type="application/yaml"
    )
    assert response.status_code == 400


def test_list_and_detail(expense_workflow, requester):
    client = client_for(requester)
    listed = client.get("/api/v1/workflows/").json()["results"]
    assert [(w["key"], w["latest_version"]) for w in listed] == [("expense", 1)]
    detail = client.get("/api/v1/workflows/expense/").json()
    assert [v["number"] for v in detail["versions"]] == [1]
    assert detail["recipe"] == PUBLIC_RECIPE
    assert client.get("/api/v1/workflows/nope/").status_code == 404


def test_simulate_shows_the_plan_and_writes_nothing(po_workflow, author, requester):
    from approvals.models import Request, Task

    response = client_for(author).post(
        "/api/v1/workflows/po/simulate/",
        {"inputs": {"amount": 10, "vendor": "X"}, "requester": "requester"},
        format="json",
    )
    assert response.status_code == 200, response.content
    plan = response.json()
    assert plan["workflow"] == "po" and plan["version"] == 1
    [step] = plan["steps"]
    assert step["id"] == "approval" and step["skipped"] is False
    assert {a["username"] for a in step["assignees"]} == {"manager", "frank"}
    assert not Request.objects.exists() and not Task.objects.exists()


def test_simulate_errors(po_workflow, author):
    client = client_for(author)
    unknown_person = client.post("/api/v1/workflows/po/simulate/",
                                 {"inputs": {}, "requester": "ghost"}, format="json")
    assert unknown_person.status_code == 400 and "requester" in unknown_person.json()
    bad_inputs = client.post("/api/v1/workflows/po/simulate/",
                             {"inputs": {"amount": "x"}, "requester": "arthur"}, format="json")
    assert bad_inputs.status_code == 400 and "inputs" in bad_inputs.json()
    unknown_workflow = client.post("/api/v1/workflows/nope/simulate/",
                                   {"inputs": {}, "requester": "arthur"}, format="json")
    assert unknown_workflow.status_code == 404
    bad_at = client.post("/api/v1/workflows/po/simulate/",
                         {"requester": "arthur", "at": "yesterday"}, format="json")
    assert bad_at.status_code == 400 and "at" in bad_at.json()
    assert json.loads(bad_at.content)  # JSON, always


def test_characters_beyond_the_bmp_survive_json_publishing(author, admins_role):
    """JSON escapes 🚀 as the pair \\ud83d\\ude80, which YAML (read for the lines) would
    take as two unpaired surrogates: an un-encodable title, once a 500."""
    recipe = yaml.safe_load(PUBLIC_RECIPE)
    recipe["title"] = "Launch 🚀"
    escaped = json.dumps(recipe)  # ensure_ascii: the surrogate pair escapes
    assert "\\ud83d\\ude80" in escaped
    client = client_for(author)
    for body, content_type in ((escaped, "application/json"), (escaped, "application/yaml")):
        response = client.post("/api/v1/workflows/", body, content_type=content_type)
        assert response.status_code in (200, 201), response.content
    detail = client.get("/api/v1/workflows/expense/")
    assert detail.status_code == 200
    assert detail.json()["title"] == "Launch 🚀"
    assert WorkflowVersion.objects.get().recipe.title == "Launch 🚀"


def test_an_unpaired_surrogate_in_a_yaml_recipe_is_400(author, admins_role):
    for body in (PUBLIC_RECIPE.replace("Expense", '"\\ud83d"'), '{"workflow": "\\udc00"}'):
        response = client_for(author).post("/api/v1/workflows/", body,
                                           content_type="application/yaml")
        assert response.status_code == 400, response.content
        assert "surrogate" in response.json()["errors"][0]["message"]
    assert not WorkflowVersion.objects.exists()


def test_a_control_character_in_a_yaml_recipe_is_400_with_its_line(author, admins_role):
    client = client_for(author)
    yaml_body = PUBLIC_RECIPE.replace("title: Expense", "title: Exp\x1eense")
    response = client.post("/api/v1/workflows/", yaml_body, content_type="application/yaml")
    assert response.status_code == 400, response.content
    [fault] = response.json()["errors"]
    assert "#x001e" in fault["message"] and fault["line"] == 2
    # A JSON string is taken as YAML text: the same fault, not a 500.
    response = client.post("/api/v1/workflows/", '"a\\u001eb"', content_type="application/json")
    assert response.status_code == 400 and "#x001e" in response.json()["errors"][0]["message"]
    assert not WorkflowVersion.objects.exists()
