from django.contrib import admin

from refdesk.core.admin_support import ReadOnlyAdmin
from refdesk.routing.models import Queue


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdmin):
    """Queues come from program definitions (`refdesk program apply`)."""

    list_display = ["slug", "name", "team"]
    list_filter = ["team"]
