"""Give every request an id: it is stored on audit events and returned as ``X-Request-ID``."""

from __future__ import annotations

import re

from refdesk.core.context import new_request_id, reset_request_id, set_request_id

# A caller-supplied id is kept only when it is short and plain, so it cannot smuggle data into logs.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _SAFE_ID.match(supplied) else new_request_id()
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response
