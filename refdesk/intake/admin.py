from django.contrib import admin

from refdesk.core.admin_support import ReadOnlyAdmin
from refdesk.intake.models import Referral
from refdesk.routing.admin import (
    QueueNoticeInline,
    ReviewInline,
    RoutingDecisionInline,
    explanation_html,
)
from refdesk.routing.selectors import latest_decision


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    """Where a referral stands and why it was routed there. Referrals change only through
    services, and the lead's identity and answers are never shown here (``fields`` is a
    whitelist: the encrypted ``lead`` and ``answers`` are not on it)."""

    list_display = [
        "reference",
        "program",
        "source",
        "stage",
        "outcome",
        "queue",
        "assigned_to",
        "first_response_due_at",
        "received_at",
    ]
    list_filter = ["program", "stage", "outcome", "queue"]
    list_select_related = ["program", "source", "queue", "assigned_to"]
    search_fields = ["reference"]
    date_hierarchy = "received_at"
    fields = [
        "reference",
        "program",
        "program_version",
        "source",
        "referrer",
        "submission_method",
        "received_at",
        "request_type",
        "therapy_area",
        "lead_kind",
        "stage",
        "outcome",
        "outcome_reason",
        "prescreen_outcome",
        "missing",
        "queue",
        "assigned_to",
        "flags",
        "routed_at",
        "first_response_due_at",
        "closed_at",
        "route_explanation",
    ]
    inlines = [RoutingDecisionInline, ReviewInline, QueueNoticeInline]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "route_explanation"]

    @admin.display(description="Why it is routed here")
    def route_explanation(self, obj):
        decision = latest_decision(obj)
        return explanation_html(decision) if decision else "Not routed yet."
