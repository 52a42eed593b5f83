"""Forms of the web pages.

The request form is not written by hand: ``inputs_form_class`` generates it
from a recipe's ``inputs`` (types, required, min/max, max_length, choices,
labels, help). The browser gets matching HTML attributes (``required``,
``min``, ``max``, ``maxlength``) for quick feedback, but the form validates
everything on the server too, and the engine validates once more on submit:
a tampered form changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.choices import BaseChoiceIterator

from approvals.choices import DecisionKind, RequestState
from approvals.recipes import InputSpec, Recipe
from orgchart.models import Person

# The datalist the person picker points at (rendered once per page).
PEOPLE_DATALIST_ID = "people-list"


class PersonPickerInput(forms.TextInput):
    """A text box tied to a <datalist> of active people: type a name or username."""

    def __init__(self, attrs: dict[str, Any] | None = None):
        base = {"list": PEOPLE_DATALIST_ID, "autocomplete": "off", "class": "person-picker"}
        super().__init__({**base, **(attrs or {})})


class PersonField(forms.CharField):
    """A ``user`` input: the username of an active person, checked on the server."""

    widget = PersonPickerInput

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        if not value:
            return ""
        username = value.strip()
        if not Person.objects.filter(username=username, is_active=True).exists():
            raise ValidationError(
                "No active person with the username “%(u)s”.", params={"u": username}
            )
        return username


def _bound(value: float | int | None, kind: type) -> Any:
    return None if value is None else kind(value)


def field_for(spec: InputSpec) -> forms.Field:
    """One form field for one recipe input."""
    common: dict[str, Any] = {
        "label": spec.display_label,
        "help_text": spec.help,
        "required": spec.required,
    }
    if spec.default is not None:
        common["initial"] = spec.default
    kind = spec.type
    if kind == "string":
        return forms.CharField(max_length=spec.max_length, **common)
    if kind == "text":
        return forms.CharField(
            max_length=spec.max_length, widget=forms.Textarea(attrs={"rows": 3}), **common
        )
    if kind == "integer":
        return forms.IntegerField(
            min_value=_bound(spec.min, int), max_value=_bound(spec.max, int), **common
        )
    if kind == "number":
        return forms.FloatField(
            min_value=_bound(spec.min, float),
            max_value=_bound(spec.max, float),
            widget=forms.NumberInput(attrs={"step": "any"}),
            **common,
        )
    if kind == "money":
        return forms.DecimalField(
            min_value=_bound(spec.min, lambda v: Decimal(str(v))),
            max_value=_bound(spec.max, lambda v: Decimal(str(v))),
            max_digits=18,
            decimal_places=2,
            widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
            **common,
        )
    if kind == "boolean":
        # An unticked box is a real "no", so a checkbox never blocks the form.
        common["required"] = False
        return forms.BooleanField(**common)
    if kind == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == "choice":
        choices = [(o, o) for o in spec.options]
        if not spec.required:
            choices = [("", "—"), *choices]
        return forms.ChoiceField(choices=choices, **common)
    if kind == "user":
        return PersonField(max_length=150, **common)
    raise ValueError(f"unknown input type {kind!r}")


class InputsForm(forms.Form):
    """Base of generated forms: knows its recipe and speaks the engine's input format."""

    recipe: Recipe

    def to_inputs(self) -> dict[str, Any]:
        """Cleaned values as the engine's JSON-ready inputs; empty optionals are left out."""
        out: dict[str, Any] = {}
        for spec in self.recipe.inputs:
            value = self.cleaned_data.get(spec.name)
            if spec.type == "boolean":
                out[spec.name] = bool(value)
                continue
            if value is None or value == "":
                continue
            if isinstance(value, Decimal):
                value = str(value.quantize(Decimal("0.01")))
            elif isinstance(value, date):
                value = value.isoformat()
            out[spec.name] = value
        return out

    def attach_faults(self, faults: list[Any]) -> None:
        """Put the engine's located faults (``inputs.amount``) on their fields."""
        for fault in faults:
            name = str(getattr(fault, "path", "")).removeprefix("inputs.")
            message = getattr(fault, "message", str(fault))
            if name in self.fields:
                self.add_error(name, message)
            else:
                self.add_error(None, str(fault))


def inputs_form_class(recipe: Recipe) -> type[InputsForm]:
    """A form class for a recipe's inputs, in the order the recipe lists them."""
    attrs: dict[str, Any] = {spec.name: field_for(spec) for spec in recipe.inputs}
    attrs["recipe"] = recipe
    return type(f"{recipe.workflow.title().replace('_', '')}InputsForm", (InputsForm,), attrs)


def initial_from_inputs(recipe: Recipe, inputs: dict[str, Any]) -> dict[str, Any]:
    """A request's stored inputs as form initial values (resubmit prefill)."""
    return {spec.name: inputs[spec.name] for spec in recipe.inputs if spec.name in inputs}


def has_person_picker(form: forms.Form) -> bool:
    return any(isinstance(f, PersonField) for f in form.fields.values())


class SubmitMetaForm(forms.Form):
    """What every request has besides its inputs."""

    title = forms.CharField(
        max_length=300,
        required=False,
        help_text="A short name your approvers will recognise (optional).",
    )


class DecisionForm(forms.Form):
    """An assignee's decision; reject and request changes need a comment."""

    decision = forms.ChoiceField(choices=DecisionKind.choices)
    comment = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        needs_comment = data.get("decision") in (DecisionKind.REJECT, DecisionKind.REQUEST_CHANGES)
        if needs_comment and not (data.get("comment") or "").strip():
            self.add_error("comment", "Say why: a comment is needed to reject or ask for changes.")
        return data


class BulkDecisionForm(forms.Form):
    """Several tasks at once; each gets its own result."""

    tasks = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)
    decision = forms.ChoiceField(choices=[(DecisionKind.APPROVE, "Approve")])
    comment = forms.CharField(required=False, max_length=5000)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Any integer id is accepted here: whether the task is the caller's is the
        # engine's question, answered per task.
        raw = self.data.getlist("tasks") if hasattr(self.data, "getlist") else []
        self.fields["tasks"].choices = [(v, v) for v in raw]

    def clean_tasks(self) -> list[int]:
        tasks = self.cleaned_data["tasks"]
        if len(tasks) > 200:
            raise ValidationError("Decide at most 200 tasks at once.")
        return list(dict.fromkeys(tasks))


class CommentForm(forms.Form):
    text = forms.CharField(
        label="Comment", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CancelForm(forms.Form):
    comment = forms.CharField(label="Reason (optional)", required=False, max_length=5000)


class AttachmentForm(forms.Form):
    file = forms.FileField(label="Attach a file")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        types = settings.APPROVALS.get("ATTACHMENT_TYPES") or {}
        if types:
            self.fields["file"].widget.attrs["accept"] = ",".join(f".{ext}" for ext in types)
            self.fields["file"].help_text = (
                f"{', '.join(sorted(types))}; up to {self._limit() // 1_000_000} MB."
            )

    @staticmethod
    def _limit() -> int:
        return int(settings.APPROVALS.get("ATTACHMENT_MAX_BYTES") or 0)

    def clean_file(self) -> Any:
        uploaded = self.cleaned_data["file"]
        # The engine enforces the limits; checking the size here too saves storing
        # a file only to refuse it.
        if self._limit() and uploaded.size > self._limit():
            raise ValidationError(f"The file is larger than {self._limit() // 1_000_000} MB.")
        return uploaded


class PlainChoices(BaseChoiceIterator):
    """(value, label) pairs whose labels are plain strings: what ``normalize_choices``
    would make of them, so a field and its widget take them as they are. Setting a
    field's choices normalizes the list twice (field, then widget), recursing into each
    label: ~3 µs a choice, and the inbox's workflow filter has a few dozen."""

    def __init__(self, choices: list[tuple[str, str]]) -> None:
        if not all(type(label) is str for _, label in choices):
            raise TypeError("plain string labels only (no groups, no lazy text)")
        self.choices = choices

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.choices)


class InboxFilterForm(forms.Form):
    workflow = forms.ChoiceField(required=False, choices=())
    due = forms.ChoiceField(
        required=False,
        choices=[("", "Any time"), ("soon", "Due within 24 h"), ("overdue", "Overdue")],
    )

    def __init__(self, *args: Any, workflows: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = PlainChoices([("", "All workflows"), *workflows])


class RequestFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Any state")]
        + [(v, lbl) for v, lbl in RequestState.choices if v != RequestState.CREATED],
    )
    workflow = forms.ChoiceField(required=False, choices=())
    scope = forms.ChoiceField(
        required=False,
        choices=[("mine", "Submitted by me"), ("all", "All I can see")],
    )

    def __init__(self, *args: Any, workflows: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "All workflows"), *workflows]
