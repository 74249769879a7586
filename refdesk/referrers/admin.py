from django.contrib import admin

from refdesk.core.admin_support import ReadOnlyAdmin
from refdesk.referrers.models import Referrer, Source


@admin.register(Source)
class SourceAdmin(ReadOnlyAdmin):
    """Sources come from program definitions."""

    list_display = ["program", "slug", "label", "active"]
    list_filter = ["program", "active"]


@admin.register(Referrer)
class ReferrerAdmin(ReadOnlyAdmin):
    """Created and deactivated with `refdesk referrer ...` so every change is audited."""

    list_display = ["code", "name", "kind", "source", "active", "created_at"]
    list_filter = ["source__program", "active", "kind"]
    search_fields = ["code", "name", "organization"]
    list_select_related = ["source__program"]
