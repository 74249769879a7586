from django.db import models

from refdesk.core.models import BaseModel


class Queue(BaseModel):
    """A team's list of referrals to work (e.g. ``clinical-ops-prescreening``).

    Created or updated by ``program apply`` from the ``queues`` of a program definition; a queue
    may serve several programs.
    """

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="queues")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug
