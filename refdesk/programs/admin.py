from django.contrib import admin

from refdesk.core.admin_support import ReadOnlyAdmin
from refdesk.programs.models import Program, ProgramVersion


class ProgramVersionInline(admin.TabularInline):
    model = ProgramVersion
    fields = ["number", "applied_at", "applied_by", "note", "content_hash"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Program)
class ProgramAdmin(ReadOnlyAdmin):
    """Programs change only through `refdesk program apply` (program-as-code, versioned)."""

    list_display = ["slug", "name", "goal", "owner_team", "active_version"]
    inlines = [ProgramVersionInline]


@admin.register(ProgramVersion)
class ProgramVersionAdmin(ReadOnlyAdmin):
    list_display = ["program", "number", "applied_at", "applied_by", "note"]
    list_filter = ["program"]
