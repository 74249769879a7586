from django.contrib import admin
from django.utils.html import format_html_join

from refdesk.core.admin_support import ReadOnlyAdmin
from refdesk.intake.models import Referral
from refdesk.routing.models import Queue, QueueNotice, Review, RoutingDecision
from refdesk.routing.selectors import decision_explanation, latest_decision


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdmin):
    """Queues come from program definitions (`refdesk program apply`)."""

    list_display = ["slug", "name", "team"]
    list_filter = ["team"]


def explanation_html(decision: RoutingDecision):
    """The decision's sentences, one per line (they never contain patient values)."""
    return format_html_join("", "<div>{}</div>", ((s,) for s in decision_explanation(decision)))


class _ReadOnlyInline(admin.TabularInline):
    """History written only by the routing services: shown, never edited here."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RoutingDecisionInline(_ReadOnlyInline):
    model = RoutingDecision
    fk_name = "referral"
    fields = ["decided_at", "kind", "queue", "previous_queue", "rule_id", "flags", "decided_by"]
    readonly_fields = fields
    ordering = ["decided_at"]


class ReviewInline(_ReadOnlyInline):
    model = Review
    fields = ["kind", "state", "requested_at", "decided_at", "decided_by"]
    readonly_fields = fields


class QueueNoticeInline(_ReadOnlyInline):
    model = QueueNotice
    fields = ["queue", "reason", "received_at", "acknowledged_at", "acknowledged_by"]
    readonly_fields = fields


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(ReadOnlyAdmin):
    """The routing history: engine decisions and staff re-routes (with their reasons)."""

    list_display = ["referral", "kind", "queue", "previous_queue", "rule_id", "decided_at"]
    list_filter = ["kind", "queue", "default_route"]
    list_select_related = ["referral", "queue", "previous_queue"]
    search_fields = ["referral__reference", "rule_id"]
    date_hierarchy = "decided_at"
    fields = [
        "referral",
        "program_version",
        "kind",
        "rule_id",
        "rule_position",
        "default_route",
        "queue",
        "previous_queue",
        "flags",
        "also_notify",
        "explanation",
        "decided_at",
        "decided_by",
        "reason",
        "facts_digest",
        "decision",
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "explanation"]

    @admin.display(description="Explanation")
    def explanation(self, obj):
        return explanation_html(obj)


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Decided through review_approve / review_reject, never edited here."""

    list_display = ["referral", "kind", "state", "requested_at", "decided_at", "decided_by"]
    list_filter = ["kind", "state"]
    list_select_related = ["referral"]
    search_fields = ["referral__reference"]


@admin.register(QueueNotice)
class QueueNoticeAdmin(ReadOnlyAdmin):
    list_display = ["referral", "queue", "reason", "received_at", "acknowledged_at"]
    list_filter = ["queue", "reason"]
    list_select_related = ["referral", "queue"]
    search_fields = ["referral__reference"]


# The referral's admin page lives here, not in intake: it shows routing's history inline, and
# intake sits below routing in the app graph.
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
