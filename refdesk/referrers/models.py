from django.db import models

from refdesk.core.models import BaseModel
from refdesk.referrers.choices import ReferrerKind


class Source(BaseModel):
    """A kind of referrer a program accepts (``study-coordinator``), from the program definition.

    Created or updated by ``program apply``; a source removed from the definition is deactivated,
    never deleted, because referrals point at it.
    """

    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="sources"
    )
    slug = models.SlugField(max_length=63)
    label = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["program", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "slug"],
                name="source_slug_per_program",
                violation_error_message="This program already has that source.",
            ),
        ]

    def __str__(self):
        return f"{self.program.slug}/{self.slug}"


class Referrer(BaseModel):
    """A person or organisation who refers leads through one source, identified by its code.

    The code (Crockford base32 with a check character) is in the intake URL ``/r/<code>`` and on
    every referral, so outcomes tie back to who referred. Deactivated, never deleted.
    """

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="referrers")
    code = models.CharField(max_length=12, unique=True)
    kind = models.CharField(
        max_length=20, choices=ReferrerKind.choices, default=ReferrerKind.PERSON
    )
    name = models.CharField(max_length=200)
    # A referrer's work contact, not patient data: kept in clear for acknowledgements.
    email = models.EmailField(blank=True)
    organization = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} ({self.name})"

    @property
    def program(self):
        return self.source.program

    @property
    def audit_label(self) -> str:
        return f"referrer:{self.code}"


class PartnerKey(BaseModel):
    """An API key for one partner referrer, scoped to that referrer's program and source.

    The key is shown once by ``refdesk partner key``; only its SHA-256 is stored (a key is 256
    random bits, so a plain hash suffices). ``prefix`` is the first characters, safe to show and
    log, to tell keys apart. Revoked, never deleted.
    """

    referrer = models.ForeignKey(Referrer, on_delete=models.PROTECT, related_name="partner_keys")
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["referrer", "created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.referrer.code})"

    @property
    def audit_label(self) -> str:
        return f"partner:{self.referrer.code}:{self.prefix}"
