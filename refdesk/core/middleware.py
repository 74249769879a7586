"""Give every request an id (stored on audit events, returned as ``X-Request-ID``), and write
one access-log line and one latency sample per request."""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings

from refdesk.core.context import (
    new_request_id,
    reset_request_id,
    set_current_request,
    set_request_id,
)
from refdesk.core.logs import request_method, request_route, user_label
from refdesk.core.metrics import observe_request

# A caller-supplied id is kept only when it is short and plain, so it cannot smuggle data into logs.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

access_logger = logging.getLogger("refdesk.access")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _SAFE_ID.match(supplied) else new_request_id()
        request.request_id = request_id
        token = set_request_id(request_id)
        set_current_request(request)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
            set_current_request(None)
        response["X-Request-ID"] = request_id
        return response


class AccessLogMiddleware:
    """One line per request on ``refdesk.access`` (unless ``REFDESK_ACCESS_LOG=false``) and a
    latency sample: method, the matched URL *pattern* (never the path: paths carry references
    and signed tokens), status, duration, size, request id and user. No query string, no body,
    no header a client chose except the request id (checked by RequestIdMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        route = request_route(request)
        method = request_method(request)
        observe_request(route, method, response.status_code, seconds)
        if settings.REFDESK_ACCESS_LOG:
            size = None if response.streaming else len(response.content)
            access_logger.info(
                "%s %s %s %.1f ms",
                method,
                route,
                response.status_code,
                seconds * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                    "size": size,
                    "request_id": getattr(request, "request_id", None),
                    "user": user_label(request),
                },
            )
        return response
