from django.db import models


class VerificationState(models.TextChoices):
    """Where a verification run started from the console stands (``AuditVerification``)."""

    QUEUED = "queued", "Waiting for a worker"  # asked for; the task has not started yet
    RUNNING = "running", "Running"  # a worker is walking the chain
    INTACT = "intact", "Chain intact"  # finished: every event and the head check out
    BROKEN = "broken", "Chain broken"  # finished: the first bad event is in ``problem``
    LOST = "lost", "Stopped without a result"  # no progress for too long: the worker died


# A run in one of these states holds the "one run at a time" slot.
ACTIVE_STATES = (VerificationState.QUEUED, VerificationState.RUNNING)
