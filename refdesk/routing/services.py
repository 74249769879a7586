"""Writes of routing's own configuration: queues (from ``program apply``).

Routing never writes a referral: it decides (``routing.decisions``) and the workflow moves the
referral (``refdesk.workflow``).
"""

from __future__ import annotations

from django.db import transaction

from refdesk.accounts.models import Team
from refdesk.audit.services import Actor, audit_record
from refdesk.routing.models import Queue


@transaction.atomic
def queue_upsert(
    *, slug: str, name: str, team: Team, description: str, actor: Actor
) -> tuple[Queue, bool]:
    """Create the queue or bring it up to date; returns (queue, changed)."""
    queue = Queue.objects.select_for_update().filter(slug=slug).first()
    if queue is None:
        queue = Queue.objects.create(slug=slug, name=name, team=team, description=description)
        audit_record(
            actor=actor,
            action="queue.created",
            subject=queue,
            changes={"slug": (None, slug), "name": (None, name), "team": (None, team.slug)},
        )
        return queue, True
    wanted = {"name": name, "team": team, "description": description}
    changes = {
        field: (getattr(queue, field), value)
        for field, value in wanted.items()
        if getattr(queue, field) != value
    }
    if not changes:
        return queue, False
    for field, (_, value) in changes.items():
        setattr(queue, field, value)
    queue.save(update_fields=[*changes, "updated_at"])
    audit_record(
        actor=actor,
        action="queue.updated",
        subject=queue,
        changes={field: (str(old), str(new)) for field, (old, new) in changes.items()},
    )
    return queue, True
