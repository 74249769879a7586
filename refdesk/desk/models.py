"""The staff console's own rows: a user's saved views of the queue pages."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from refdesk.core.models import BaseModel

# The "queue" of a saved filter over My work instead of one queue.
MY_WORK = "my-work"


class SavedFilter(BaseModel):
    """A named set of queue-page filters one staff member saved for themselves (created by
    ``desk.saved_filters.saved_filter_save``; only its owner sees, uses or deletes it).

    ``query`` holds known filter keys only (``FILTER_KEYS`` of the queue pages), URL-encoded;
    ``queue`` is a queue slug, or ``my-work``. Not referral state, and no patient data: filters
    name stages, sources, request types, SLA states, sorts and assignees.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters"
    )
    name = models.CharField(max_length=60)
    queue = models.CharField(max_length=63)
    query = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                name="saved_filter_name_once_per_owner",
                violation_error_message="You already have a saved filter with that name.",
            )
        ]
        # The owner's filters for one page: WHERE owner=? AND queue=? (the unique constraint's
        # (owner, name) index serves the owner's list).
        indexes = [models.Index(fields=["owner", "queue"], name="saved_filter_owner_queue")]

    def __str__(self):
        return self.name
