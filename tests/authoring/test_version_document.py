"""A published version keeps its recipe loaded, as JSON (``WorkflowVersion.document``):
a worker parses the version from it, ~5 times faster than from the YAML, into the very
same recipe; where JSON cannot say the same (or the document is damaged) the text
still holds."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from approvals import services
from approvals.models import WorkflowVersion
from approvals.recipes.cache import _parse_cached, parse_stored, stored_document

DEMO = Path(__file__).resolve().parents[2] / "approvals" / "demo"
RECIPES = ["purchase_order", "leave_request", "db_access", "discount"]

GADGET = """
workflow: gadget
title: Gadget
inputs:
  amount: {type: money, required: true, min: 0}
steps:
  - id: manager
    approver: "{{ requester.manager }}"
    sla: {due: 1h, remind_at: 50%}
"""

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    _parse_cached.cache_clear()
    yield
    _parse_cached.cache_clear()


def stored(version: WorkflowVersion) -> WorkflowVersion:
    """The version as a fresh worker reads it."""
    _parse_cached.cache_clear()
    return WorkflowVersion.objects.get(pk=version.pk)


@pytest.mark.parametrize("name", RECIPES)
def test_the_demo_recipes_are_parsed_from_their_document_into_the_same_recipe(name):
    source = (DEMO / f"{name}.yaml").read_text()
    document = stored_document(source)
    assert document.startswith('{"data":')
    assert _parse_cached(1, "not even a recipe", document) == parse_stored(source)


def test_a_published_version_keeps_its_document():
    version, _ = services.publish(source=GADGET)
    assert stored(version).document == stored_document(GADGET) != ""
    assert stored(version).recipe == parse_stored(GADGET)


def test_the_engine_reads_the_document_and_not_the_text():
    version, _ = services.publish(source=GADGET)
    document = version.document.replace('"title":"Gadget"', '"title":"From the document"')
    WorkflowVersion.objects.filter(pk=version.pk).update(document=document)
    assert stored(version).recipe.title == "From the document"


def test_a_damaged_document_falls_back_to_the_text(caplog):
    version, _ = services.publish(source=GADGET)
    WorkflowVersion.objects.filter(pk=version.pk).update(document='{"data": {"workflow"')
    with caplog.at_level(logging.WARNING):
        assert stored(version).recipe == parse_stored(GADGET)
    assert "its stored document is unusable" in caplog.text


def test_what_json_cannot_say_is_parsed_from_the_text():
    # YAML's .inf is a number JSON has no word for: the document would read null.
    source = GADGET.replace("min: 0}", "min: 0, max: .inf}")
    assert stored_document(source) == ""
    version, _ = services.publish(source=source)
    assert version.document == ""
    assert stored(version).recipe.input("amount").max == float("inf")


def test_a_text_that_does_not_parse_gets_no_document_and_no_error():
    # Loads (with a fault: a duplicate key) but is no recipe: the migration that fills
    # documents for stored versions must not stop on such a version.
    assert stored_document(GADGET + "title: Twice\n") == ""
    assert stored_document("just: [a, list") == ""
