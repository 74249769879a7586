"""Partner API v1: thin endpoints (parse -> authorize -> one service call -> render).

Mounted at /api/v1/ (refdesk/urls.py); OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs
served from ninja's bundled swagger-ui (no CDN).
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Header, NinjaAPI, Path, Status, Swagger

from refdesk.api.auth import (
    PartnerKeyAuth,
    check_key_scope,
    partner_key_or_none,
)
from refdesk.api.definitions import program_public_definition
from refdesk.api.errors import install_error_handlers
from refdesk.api.parser import StrictJSONParser
from refdesk.api.schemas import (
    ErrorOut,
    ProgramDefinitionOut,
    ReferralCreatedOut,
    ReferralIn,
    ReferralStatusOut,
)
from refdesk.api.services import (
    partner_referral_submit,
    referral_lifecycle,
    request_fingerprint,
)
from refdesk.core.errors import NotFound
from refdesk.intake.models import Referral
from refdesk.intake.submissions import Submission

api = NinjaAPI(
    title="refdesk partner API",
    version="1",
    description=(
        "Submit referrals on behalf of one referrer (the API key names it) and follow their "
        "status. Read GET /programs/{program} first: it lists the fields, the request types "
        "your source may send and the published consent text versions. Every error is "
        '{"errors": [{"field", "code", "message"}]}.'
    ),
    urls_namespace="api-v1",
    # validatorUrl None: swagger-ui would otherwise call validator.swagger.io from the browser.
    docs=Swagger(settings={"validatorUrl": None}),
    # JSON only, strictly: content type, UTF-8, duplicate keys, nesting (docs/api-errors.md).
    parser=StrictJSONParser(),
)
install_error_handlers(api)

ERRORS = ErrorOut
IDEMPOTENCY_HELP = (
    "Recommended. The same key with the same body returns the first response (201, same id) "
    "and creates nothing; the same key with a different body is a 409."
)


def _submission(payload: ReferralIn) -> Submission:
    lead = payload.lead.model_dump(exclude={"kind"}, exclude_none=True)
    utm = payload.utm.model_dump(exclude_none=True) if payload.utm else {}
    return Submission(
        request_type=payload.request_type,
        lead=lead,
        lead_kind=payload.lead.kind or "",
        therapy_area=payload.therapy_area or "",
        answers=dict(payload.answers),
        consent=payload.consent.model_dump() if payload.consent else None,
        utm=utm,
    )


@api.post(
    "/referrals",
    auth=PartnerKeyAuth(),
    response={201: ReferralCreatedOut, (401, 403, 409, 413, 415, 422, 429): ERRORS},
    summary="Submit a referral",
    url_name="referral-create",
)
def referral_create(
    request: HttpRequest,
    payload: ReferralIn,
    response: HttpResponse,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description=IDEMPOTENCY_HELP,
        max_length=255,
        pattern=r"^[!-~]+$",
    ),
):
    partner_key = request.auth
    check_key_scope(
        partner_key=partner_key,
        program=payload.program,
        source=payload.source,
        referrer_code=payload.referrer_code,
    )
    # Whether the source may submit by API at all is the service's check (one place).
    status, body, replayed = partner_referral_submit(
        partner_key=partner_key,
        submission=_submission(payload),
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint(payload.model_dump(mode="json")),
    )
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return Status(status, body)


NOT_FOUND = "no referral with this id is visible to you"


@api.get(
    "/referrals/{id}",
    response={200: ReferralStatusOut, (404, 422): ERRORS},
    summary="Status of a referral you submitted",
    url_name="referral-status",
    openapi_extra={"security": [{"PartnerKeyAuth": []}, {}]},
)
def referral_status(request: HttpRequest, id: UUID):
    # Not yours, no key, a revoked key and an unknown id all get the identical 404.
    partner_key = partner_key_or_none(request)
    referral = (
        Referral.objects.select_related("duplicate_of")
        .filter(public_id=id, referrer_id=partner_key.referrer_id)
        .first()
        if partner_key is not None
        else None
    )
    if referral is None:
        raise NotFound(NOT_FOUND, code="not_found")
    return {
        "id": referral.public_id,
        "reference": referral.reference,
        **referral_lifecycle(referral),
        "received_at": referral.received_at,
    }


@api.get(
    "/programs/{program}",
    response={200: ProgramDefinitionOut, (404, 422): ERRORS},
    summary="A program's public intake definition",
    url_name="program-definition",
)
def program_definition(
    request: HttpRequest,
    program: str = Path(..., pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Program id."),
):
    return program_public_definition(slug=program)
