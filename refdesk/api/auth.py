"""Partner API keys: ``Authorization: Bearer <key>``, and what a key may submit.

An unknown key is 401; a revoked key or an inactive referrer is 403 (from
``partner_key_authenticate``). A key names one referrer, hence one program and source.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from refdesk.core.errors import ApplicationError, NotFound, ValidationFailed
from refdesk.core.ratelimit import limit_from_settings, rate_limit_hit
from refdesk.core.references import parse_referrer_code
from refdesk.intake.validation import error
from refdesk.programs.models import Program
from refdesk.referrers.models import PartnerKey
from refdesk.referrers.services import partner_key_authenticate

# Per partner key; REFDESK_RATE_LIMITS = {"api.partner_key": (hits, seconds)} overrides it.
RATE_SCOPE, RATE_DEFAULT = "api.partner_key", (1200, 60)


class Unauthenticated(ApplicationError):
    code = "invalid_api_key"
    status = 401


class PartnerKeyAuth(HttpBearer):
    """Resolves the bearer token to its ``PartnerKey`` (with referrer, source and program)."""

    def authenticate(self, request: HttpRequest, token: str) -> PartnerKey:
        try:
            record = partner_key_authenticate(key=token.strip())
        except NotFound:
            raise Unauthenticated("unknown API key") from None
        # Counted here, before the body is parsed, so invalid requests count too.
        rate_limit_hit(
            rule=limit_from_settings(RATE_SCOPE, RATE_DEFAULT), key=str(record.public_id)
        )
        return record


def partner_key_or_none(request: HttpRequest) -> PartnerKey | None:
    """For reads where "not yours" must look exactly like "not found": any key problem (none,
    unknown, revoked) is simply no partner."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return partner_key_authenticate(key=token.strip())
    except ApplicationError:
        return None


def check_key_scope(
    *, partner_key: PartnerKey, program: str, source: str, referrer_code: str | None
) -> None:
    """A key submits only for its own referrer, source and program, and only if that source
    accepts API submissions. Mismatches are field errors (422); a source that does not take
    API submissions makes the key useless (403)."""
    referrer = partner_key.referrer
    errors = []
    if program != referrer.source.program.slug:
        if Program.objects.filter(slug=program).exists():
            errors.append(
                error("program", "program_not_in_key_scope", "This API key is for another program.")
            )
        else:
            errors.append(error("program", "unknown_program", "There is no such program."))
    elif source != referrer.source.slug:
        if referrer.source.program.sources.filter(slug=source).exists():
            errors.append(
                error("source", "source_not_in_key_scope", "This API key is for another source.")
            )
        else:
            errors.append(error("source", "unknown_source", "This program has no such source."))
    if referrer_code is not None and referrer_code.strip():
        canonical = parse_referrer_code(referrer_code)
        if canonical is None:
            errors.append(
                error(
                    "referrer_code",
                    "invalid_referrer_code",
                    "This is not a referral code (check for a mistyped character).",
                )
            )
        elif canonical != referrer.code:
            errors.append(
                error(
                    "referrer_code",
                    "referrer_code_mismatch",
                    "This API key belongs to another referrer; omit referrer_code or use its own.",
                )
            )
    if errors:
        raise ValidationFailed(errors)
