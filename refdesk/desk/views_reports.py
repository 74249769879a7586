"""The reports dashboard: ``GET /desk/reports/?program=<slug>&source=<slug>&period=<name>``
and the monthly pack's download, ``POST /desk/reports/pack``.

Aggregates only, for who may read reports (``reports.view``); the references of the oldest
open work for who supervises it (``reports.drill_down``). Roles that see aggregates only get
the same small-number suppression as the exported pack. A malformed filter is a 400 page
naming it. Charts are server-side SVG, the same as the pack's.
"""

from __future__ import annotations

import base64

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.selectors import user_timezone
from refdesk.core.errors import ApplicationError
from refdesk.programs.models import Program
from refdesk.referrers.models import Source
from refdesk.reports.charts import chart_svg
from refdesk.reports.dashboard import PERIODS, dashboard, oldest_open, period_bounds
from refdesk.reports.exports import report_download
from refdesk.reports.html import section_view
from refdesk.reports.monthly import monthly_report
from refdesk.reports.scope import Scope, month_before, parse_month
from refdesk.reports.suppress import suppressed_report

PACK_FORMATS = {"pdf": "PDF", "xlsx": "Excel (XLSX)", "csv": "CSV (zip)", "html": "HTML"}


class DashboardFilter(forms.Form):
    program = forms.SlugField(required=False)
    source = forms.SlugField(required=False)
    period = forms.ChoiceField(choices=list(PERIODS.items()), required=False)

    def clean_program(self):
        slug = self.cleaned_data["program"]
        if slug and not Program.objects.filter(slug=slug).exists():
            raise forms.ValidationError("There is no program with that id.")
        return slug

    def clean(self):
        data = super().clean()
        source = data.get("source")
        if source and not data.get("program"):
            self.add_error("source", "Choose a program before one of its sources.")
        elif (
            source
            and not Source.objects.filter(program__slug=data.get("program"), slug=source).exists()
        ):
            self.add_error("source", "The program has no source with that id.")
        return data


class PackForm(forms.Form):
    program = forms.SlugField()
    month = forms.CharField(max_length=7)
    format = forms.ChoiceField(choices=list(PACK_FORMATS.items()))

    def clean_month(self):
        try:
            parse_month(self.cleaned_data["month"])
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from None
        return self.cleaned_data["month"]


def _chart_image(report, chart) -> dict:
    """A chart as an image (a data: URL): matplotlib's SVG styles itself with style attributes,
    which the console's Content Security Policy refuses inline; as an image it is its own
    document. The alt text names it and points to the table with its figures."""
    svg = chart_svg(chart, report.table(chart.table), threshold=report.suppression_threshold)
    encoded = base64.b64encode(svg.encode()).decode("ascii")
    table = report.table(chart.table)
    return {
        "title": chart.title,
        "src": f"data:image/svg+xml;base64,{encoded}",
        "alt": f"{chart.title}: chart; its figures are in the table “{table.title}” below.",
    }


def _guard(request, rule: str) -> None:
    """A page the role may not use does not exist for it (as elsewhere in the console)."""
    if not policy.has_perm(request.user, rule):
        raise Http404(NOT_FOUND_MESSAGE)


@never_cache
@login_required
@require_GET
def reports_dashboard(request):
    _guard(request, "reports.view")
    form = DashboardFilter(request.GET or None)
    programs = list(Program.objects.order_by("name"))
    context = {"form": form, "programs": programs, "periods": PERIODS}
    if request.GET and not form.is_valid():
        context["title"] = "Reports"
        return TemplateResponse(request, "desk/reports/dashboard.html", context, status=400)
    data = form.cleaned_data if request.GET else {}
    period = data.get("period") or "last_12_months"
    program = data.get("program") or ""
    source = data.get("source") or ""
    today = timezone.localdate(timezone.now(), user_timezone(request.user))
    chosen = [p for p in programs if p.slug == program] or programs
    start, end = period_bounds(period, today, chosen)
    scope = Scope.build(program=program or None, start=start, end=end, source=source or None)
    board = dashboard(scope)
    drill_down = policy.has_perm(request.user, "reports.drill_down")
    report = board.report
    threshold = None
    if not drill_down:
        threshold = settings.REFDESK_REPORT_SUPPRESSION_THRESHOLD
        report = suppressed_report(report, threshold)
    [section] = report.sections
    shown = section_view(report, section)
    headline = shown.tables[0]
    tiles = [
        (c.label, cell.text) for c, cell in zip(headline.columns, headline.rows[0], strict=True)
    ]
    context.update(
        {
            "tiles": tiles,
            "charts": [_chart_image(report, chart) for chart in section.charts],
            "title": f"Reports: {scope.label}",
            "report": report,
            "section": shown,
            "board": board,
            "threshold": threshold,
            "period": period,
            "program": program,
            "source": source,
            "sources": Source.objects.filter(program__slug=program).order_by("label")
            if program
            else [],
            "oldest": oldest_open(scope) if drill_down else None,
            "can_export": policy.has_perm(request.user, "reports.export") and bool(program),
            "pack_month": month_before(today),
            "pack_formats": PACK_FORMATS,
        }
    )
    return TemplateResponse(request, "desk/reports/dashboard.html", context)


@never_cache
@login_required
@require_POST
def reports_pack(request):
    """One format of a program's monthly pack, suppressed and audited, as a download."""
    _guard(request, "reports.export")
    form = PackForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return HttpResponse(f"The pack cannot be made: {problems}", status=400,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    data = form.cleaned_data
    try:
        report = monthly_report(program=data["program"], month=data["month"])
        file = report_download(report, format=data["format"], actor=request.user)
    except ApplicationError as error:
        return HttpResponse(error.message, status=error.status,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    response = HttpResponse(file.data, content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.name}"'
    return response
