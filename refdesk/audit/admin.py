from django.contrib import admin

from refdesk.audit.models import AuditEvent, AuditVerification
from refdesk.core.admin_support import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Events are written only by audit_record() and never changed."""

    list_display = ["seq", "occurred_at", "actor", "action", "subject_type", "subject_id"]
    list_filter = ["action", "subject_type"]
    search_fields = ["subject_id", "actor", "request_id"]
    ordering = ["-seq"]
    show_full_result_count = False  # counting a large trail for every page is wasted work


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    """Verification runs started from the console; written only by their services and task."""

    list_display = ["requested_at", "started_by", "state", "checked", "total", "finished_at"]
    list_filter = ["state"]
    ordering = ["-requested_at"]
