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


class ConsentEvent(models.TextChoices):
    """What happened to the lead's permission (one ``ConsentRecord`` per event)."""

    GIVEN = "given", "Given"  # permission documented, at intake or later (a call, a form)
    REFUSED = "refused", "Refused"  # asked at intake, and the lead said no
    WITHDRAWN = "withdrawn", "Withdrawn"  # some or all purposes or channels taken back
    EXPIRED = "expired", "Expired"  # the program's validity period ran out


class ConsentState(models.TextChoices):
    """The permission in force now (``consent_current``); also the engine's ``consent`` fact."""

    GRANTED = "granted", "Granted"  # some purposes and channels may be used
    NOT_GRANTED = "not_granted", "Not granted"  # needed, never given (or refused)
    WITHDRAWN = "withdrawn", "Withdrawn"  # every purpose taken back
    EXPIRED = "expired", "Expired"  # given, but its validity period has run out
    NOT_REQUIRED = "not_required", "Not required"  # the program asks none for this lead kind


class WithdrawalReason(models.TextChoices):
    """Why consent was withdrawn (a code for reports; what was said goes in a staff note)."""

    LEAD_REQUEST = "lead_request", "The lead asked to withdraw"
    REFERRER_REPORTED = "referrer_reported", "The referrer reported the lead's withdrawal"
    RECORDED_IN_ERROR = "recorded_in_error", "The consent was recorded in error"
