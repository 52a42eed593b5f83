"""The out-of-office page: my absences and delegates, who acts for me, for whom I act.

Thin: reads the person's absences, calls ``orgchart.services.absence_create`` /
``absence_delete`` for changes, and shows their refusals in place.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from orgchart import selectors, services
from orgchart.errors import OrgChartError
from orgchart.models import Absence, Person


class AbsenceForm(forms.Form):
    """Dates as people think of them: the first and the last day away, inclusive."""

    start = forms.DateField(label="First day away", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="Last day away", widget=forms.DateInput(attrs={"type": "date"}))
    delegate = forms.CharField(
        label="Who acts for you",
        max_length=150,
        required=False,
        help_text="Their username. Leave empty if nobody should decide for you.",
        widget=forms.TextInput(attrs={"list": "people-list", "autocomplete": "off"}),
    )
    move_open_tasks = forms.BooleanField(
        label="Also hand over the tasks already waiting for me", required=False
    )
    note = forms.CharField(label="Note", max_length=300, required=False)

    def __init__(self, *args: Any, person: Person, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.person = person

    def clean_delegate(self) -> Person | None:
        username = (self.cleaned_data.get("delegate") or "").strip()
        if not username:
            return None
        delegate = Person.objects.filter(username=username, is_active=True).first()
        if delegate is None:
            raise ValidationError(f"No active person with the username “{username}”.")
        if delegate.pk == self.person.pk:
            raise ValidationError("Choose someone other than yourself.")
        return delegate

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "The last day must be on or after the first day.")
        return data

    def window(self) -> tuple[datetime, datetime]:
        """The absence as [start of the first day, start of the day after the last)."""
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.cleaned_data["start"], time.min, tzinfo=tz)
        end = datetime.combine(self.cleaned_data["end"] + timedelta(days=1), time.min, tzinfo=tz)
        return start, end


def _page(request: HttpRequest, form: AbsenceForm, status: int = 200) -> HttpResponse:
    person = request.user
    now = timezone.now()
    mine = list(selectors.absences_of(person).filter(end__gt=now))
    for absence in mine:
        # Stored ends are exclusive; people read the last day they are away.
        absence.last_day = (timezone.localtime(absence.end) - timedelta(microseconds=1)).date()
    # People I act for now: their current absences name me.
    acting_for = list(
        Absence.objects.filter(delegate=person, start__lte=now, end__gt=now).select_related(
            "person"
        )
    )
    upcoming_for = list(
        Absence.objects.filter(delegate=person, start__gt=now).select_related("person")
    )
    people = [
        (p.username, p.display_name)
        for p in Person.objects.filter(is_active=True, is_service_account=False)
        .exclude(pk=person.pk)
        .only("username", "name", "first_name", "last_name")
    ]
    return render(
        request,
        "orgchart/out_of_office.html",
        {
            "form": form,
            "absences": mine,
            "current": next((a for a in mine if a.start <= now), None),
            "acting_for": acting_for,
            "upcoming_for": upcoming_for,
            "people": people,
            "now": now,
        },
        status=status,
    )


@login_required
def out_of_office(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, AbsenceForm(person=request.user))
    form = AbsenceForm(request.POST, person=request.user)
    if form.is_valid():
        start, end = form.window()
        try:
            services.absence_create(
                actor=request.user,
                person=request.user,
                start=start,
                end=end,
                delegate=form.cleaned_data["delegate"],
                move_open_tasks=form.cleaned_data["move_open_tasks"],
                note=form.cleaned_data["note"],
            )
        except OrgChartError as exc:
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not exc.errors:
                form.add_error(None, exc.message)
        else:
            messages.success(request, "Your absence is saved.")
            return redirect("orgchart:out_of_office")
    return _page(request, form, status=400)


@login_required
@require_POST
def absence_delete(request: HttpRequest, absence_id: int) -> HttpResponse:
    try:
        services.absence_delete(actor=request.user, absence_id=absence_id)
    except OrgChartError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The absence is removed.")
    return redirect("orgchart:out_of_office")
