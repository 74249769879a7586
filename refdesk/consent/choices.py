from django.db import models


class ConsentMethod(models.TextChoices):
    """How the permission was obtained."""

    SELF = "self", "Given by the lead"  # the lead ticked the box themselves
    ATTESTED_BY_REFERRER = "attested_by_referrer", "Attested by the referrer"  # referrer vouches
    VERBAL_RECORDED = "verbal_recorded", "Verbal, recorded"  # said on a recorded call


class ConsentChannel(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    MAIL = "mail", "Mail"
