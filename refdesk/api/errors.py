"""The API's one error renderer: every failure is ``{"errors": [{"field", "code", "message"}]}``.

Three kinds of failure reach it: ``ApplicationError`` from services (``ValidationFailed`` carries
its own field errors), ninja's request validation (pydantic errors: wrong types, missing fields,
unknown fields) and ninja's ``HttpError`` (missing credentials, throttling, and the body parser's
refusals, ``refdesk.api.parser``: 415 ``unsupported_media_type``, 422 ``invalid_json`` and
``too_deep``). Messages never echo the submitted value: it may be patient data. Every status and
code is listed in docs/api-errors.md; a test keeps that list and this module in step.

A submission refused for its content (a 413, 415 or 422 of ``POST /referrals`` by an authenticated
partner key) is also counted in the rejection statistics (``rejections_record``), after the
failed submission's transaction; failures of the key itself (401, 403, 429) are not submissions.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.core.ratelimit import RateLimited
from refdesk.core.text import INVALID_CHARACTERS
from refdesk.intake.rejections import rejections_record
from refdesk.referrers.models import PartnerKey

# The one operation whose refusals are rejected submissions (its url_name in v1.py).
SUBMISSION_URL_NAME = "referral-create"


def error(field: str | None, code: str, message: str) -> dict[str, Any]:
    return {"field": field, "code": code, "message": message}


# pydantic error type -> (stable code, message). Types ending in _type/_parsing are "wrong type".
_PYDANTIC_CODES: dict[str, tuple[str, str]] = {
    "missing": ("required", "This field is required."),
    "extra_forbidden": ("unknown_field", "This field is not part of the API."),
    "string_too_long": ("too_long", "This value is too long."),
    "string_too_short": ("too_short", "This value is too short."),
    "too_long": ("too_many_items", "This has too many items."),
    "literal_error": ("invalid_choice", "Use one of the documented values."),
    "enum": ("invalid_choice", "Use one of the documented values."),
    "uuid_parsing": ("invalid_id", "This is not a valid id."),
    "uuid_type": ("invalid_id", "This is not a valid id."),
    "json_invalid": ("invalid_json", "The request body is not valid JSON."),
    "string_pattern_mismatch": ("invalid_format", "This value does not have the documented form."),
    # A lone surrogate (a JSON "\ud800" escape): the text rule's kind "not_a_character".
    "string_unicode": (
        INVALID_CHARACTERS,
        "This contains a code point that is not a usable character; remove it.",
    ),
}
_WRONG_TYPE_MESSAGES = {
    "string": "Expected text.",
    "int": "Expected a whole number.",
    "bool": "Expected true or false.",
    "dict": "Expected an object.",
    "model_attributes": "Expected an object.",
    "model": "Expected an object.",
    "list": "Expected a list.",
    "none_required": "Expected null.",
    "answer": "Expected true/false, a whole number or text.",
}


def _field_of(loc: tuple) -> str:
    source, *rest = loc
    if source == "body":
        rest = rest[1:]  # the operation's payload parameter name, not part of the document
        return ".".join(str(part) for part in rest) or "body"
    path = ".".join(str(part) for part in rest)
    return f"header.{path}" if source == "header" else path or str(source)


def pydantic_errors(raw: list[dict]) -> list[dict]:
    rendered, seen = [], set()
    for item in raw:
        kind = item.get("type", "")
        if kind in _PYDANTIC_CODES:
            code, message = _PYDANTIC_CODES[kind]
        elif kind.endswith(("_type", "_parsing")):
            base = kind.removesuffix("_type").removesuffix("_parsing")
            code, message = "wrong_type", _WRONG_TYPE_MESSAGES.get(base, "Wrong type of value.")
        else:
            code, message = "invalid", "This value is not valid."
        field = _field_of(tuple(item.get("loc") or ("body",)))
        if (field, code) not in seen:
            seen.add((field, code))
            rendered.append(error(field, code, message))
    return rendered


def _record_rejection(request: HttpRequest, errors: list[dict]) -> None:
    """Count a refused submission: only ``POST /referrals`` by a key that authenticated (ninja
    sets ``request.auth`` only then, before it reads the body)."""
    partner_key = getattr(request, "auth", None)
    match = getattr(request, "resolver_match", None)
    if not isinstance(partner_key, PartnerKey) or match is None:
        return
    if match.url_name != SUBMISSION_URL_NAME:
        return
    rejections_record(
        referrer=partner_key.referrer,
        method="api",
        errors=[(item["field"], item["code"]) for item in errors],
    )


def _render(api: NinjaAPI, request, status: int, errors: list[dict]) -> HttpResponse:
    return api.create_response(request, {"errors": errors}, status=status)


def install_error_handlers(api: NinjaAPI) -> None:
    """Register the renderer for every failure the API can meet (ninja's defaults stay for
    anything else, which is a bug and should be a loud 500)."""

    @api.exception_handler(ApplicationError)
    def application_error(request: HttpRequest, exc: ApplicationError):
        if isinstance(exc, ValidationFailed):
            errors = [error(e.get("field"), e["code"], e["message"]) for e in exc.errors]
            _record_rejection(request, errors)
        else:
            errors = [error(exc.field, exc.code, exc.message)]
        response = _render(api, request, exc.status, errors)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="refdesk"'
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(NinjaValidationError)
    def validation_error(request: HttpRequest, exc: NinjaValidationError):
        errors = pydantic_errors(exc.errors)
        _record_rejection(request, errors)
        return _render(api, request, 422, errors)

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError):
        if isinstance(exc, AuthenticationError):
            response = _render(
                api,
                request,
                401,
                [error(None, "authentication_required", "Send Authorization: Bearer <API key>.")],
            )
            response["WWW-Authenticate"] = 'Bearer realm="refdesk"'
            return response
        if isinstance(exc, Throttled):
            return _render(
                api, request, 429, [error(None, "rate_limited", "Too many requests; slow down.")]
            )
        if isinstance(exc.__cause__, ApplicationError):
            # The body parser's refusals (refdesk.api.parser: 415 unsupported_media_type,
            # 422 invalid_json or too_deep), which ninja wraps in a 400.
            # Counted like any refused submission (a body is the submission's content).
            refused = exc.__cause__
            errors = [error(refused.field, refused.code, refused.message)]
            _record_rejection(request, errors)
            return _render(api, request, refused.status, errors)
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # ninja wraps a body that is not JSON (or not UTF-8) in a 400; it is a validation
            # failure like any other, so it gets the same status and shape.
            errors = [error("body", "invalid_json", "The request body is not valid JSON.")]
            _record_rejection(request, errors)
            return _render(api, request, 422, errors)
        return _render(api, request, exc.status_code, [error(None, "bad_request", str(exc))])

    @api.exception_handler(RequestDataTooBig)
    def too_big(request: HttpRequest, exc: RequestDataTooBig):
        errors = [error("body", "too_large", "The request body is too large.")]
        _record_rejection(request, errors)
        return _render(api, request, 413, errors)
