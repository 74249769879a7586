"""One error hierarchy: every expected business failure is an ApplicationError with a stable code.

Interfaces (pages, API, commands) render these; they never become a 500 or a traceback.
Messages must never contain patient data.
"""

from __future__ import annotations


class ApplicationError(Exception):
    code = "application_error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    """One or more field errors; ``errors`` is a list of {field, code, message}."""

    code = "validation_failed"
    status = 422

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class PermissionDenied(ApplicationError):
    code = "forbidden"
    status = 403


class Conflict(ApplicationError):
    code = "conflict"
    status = 409


class InvalidTransition(ApplicationError):
    code = "invalid_transition"
    status = 409
