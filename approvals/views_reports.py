"""The reports page for workflow authors, admins and auditors (a thin view)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from approvals import reports
from approvals.models import Workflow
from approvals.selectors import is_auditor, is_author


class ReportFilterForm(forms.Form):
    """Which workflow and which days (at most ``reports.MAX_DAYS``)."""

    workflow = forms.ModelChoiceField(
        queryset=Workflow.objects.order_by("key"),
        to_field_name="key",
        required=False,
        empty_label="All workflows",
    )
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        today = timezone.localdate()
        end: date = data.get("end") or today
        start: date = data.get("start") or end - timedelta(days=reports.DEFAULT_DAYS - 1)
        if start > end:
            self.add_error("start", "The start must not be after the end.")
        elif (end - start).days + 1 > reports.MAX_DAYS:
            self.add_error("start", f"A period is at most {reports.MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data


def _period(start: date, end: date) -> reports.Period:
    tz = timezone.get_current_timezone()
    return reports.Period(
        start=datetime.combine(start, time.min, tzinfo=tz),
        end=datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


@login_required
def reports_page(request: HttpRequest) -> HttpResponse:
    """GET /reports/?workflow=KEY&start=YYYY-MM-DD&end=YYYY-MM-DD"""
    if not (is_author(request.user) or is_auditor(request.user)):
        raise PermissionDenied("Reports are for workflow authors, admins and auditors.")
    today = timezone.localdate()
    start, end, workflow = today - timedelta(days=reports.DEFAULT_DAYS - 1), today, None
    # The dates are always shown, so the default period is visible in the form too.
    data = request.GET.copy()
    data.setdefault("end", end.isoformat())
    data.setdefault("start", start.isoformat())
    form = ReportFilterForm(data)
    if form.is_valid():
        start, end, workflow = form.cleaned_data["start"], form.cleaned_data["end"], (
            form.cleaned_data["workflow"]
        )
    report = reports.build_report(
        workflow=workflow, period=_period(start, end), now=timezone.now()
    )
    return render(
        request,
        "approvals/reports.html",
        {
            "form": form,
            "report": report,
            "start": start,
            "end": end,
            "max_days": reports.MAX_DAYS,
            "row_cap": f"{reports.ROW_CAP:,}",
            "age_buckets": [name for name, _ in reports.AGE_BUCKETS],
            "heat_legend": list(enumerate(reports.HEAT_LEGEND)),
            "heatmap_max": reports.HEATMAP_MAX_APPROVERS,
        },
    )
