"""The operations endpoints: ``/healthz`` (liveness), ``/readyz`` (readiness), ``/metrics``.

``ProbeMiddleware`` sits first in ``MIDDLEWARE`` and answers these three paths itself, before
``SecurityMiddleware`` (the HTTPS redirect) and ``CommonMiddleware`` (``ALLOWED_HOSTS``): a load
balancer probes each node by its address over plain HTTP, and a Prometheus server scrapes each
node the same way (request latency is counted per node). Nothing else is reachable that way, and
these paths read no session, set no cookie and show no data about anyone. Chosen over
``SECURE_REDIRECT_EXEMPT`` plus host handling because that would still leave ``ALLOWED_HOSTS``
in the way, and widening ``ALLOWED_HOSTS`` for probes would widen it for every page.

The same views are URL patterns too (refdesk/urls.py), so they can be reversed and the access
matrix covers them. docs/operations.md documents the answers.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from refdesk.core.context import new_request_id, reset_request_id, set_request_id
from refdesk.core.health import readiness
from refdesk.core.metrics import scrape_registry
from refdesk.reports.exporter import BusinessCollector


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No database, no I/O, no data."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness of the system: 200 when every required check passes, else 503 naming them."""
    result = readiness()
    return JsonResponse(result.as_json(), status=200 if result.ready else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition: 404 until ``REFDESK_METRICS_TOKEN`` is set, then the bearer token
    (and an allowed client network, when ``REFDESK_METRICS_ALLOW`` lists any) or 401/404."""
    token = settings.REFDESK_METRICS_TOKEN
    if not token or not _address_allowed(request):
        return HttpResponseNotFound("Not found", content_type="text/plain")
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        supplied.strip().encode(), token.encode()
    ):
        response = HttpResponse("Unauthorized", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = generate_latest(scrape_registry(BusinessCollector()))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _address_allowed(request: HttpRequest) -> bool:
    networks = settings.REFDESK_METRICS_ALLOW
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


PROBES = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        request.request_id = new_request_id()
        token = set_request_id(request.request_id)
        try:
            response = view(request)
        finally:
            reset_request_id(token)
        response["Cache-Control"] = "no-store"
        response["X-Request-ID"] = request.request_id
        if view is not metrics:
            # A 503 is the probe's expected answer while not ready, asked every few seconds:
            # not a Django error to log each time (the checks log what they found).
            response._has_been_logged = True
        return response
