"""Per-process request metrics (prometheus-client) and the registry ``/metrics`` serves.

Request latency is measured in the process that served the request. ``refdesk serve`` runs
several granian processes: it points ``PROMETHEUS_MULTIPROC_DIR`` at an emptied directory before
they start, prometheus-client then keeps each process's samples in files there, and a scrape of
any process adds them all up (``MultiProcessCollector``). Without the variable (the development
server, tests) the samples live in this process's default registry.

Labels are URL patterns, methods and status classes only: never a path, never patient data.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, multiprocess, values
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram(
    "refdesk_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _multiprocess_values() -> None:
    """prometheus-client chooses where samples live when it is first imported; ``refdesk serve``
    may have imported it (its system checks load the URLconf) before it set the directory and
    forked its server processes. The labelled samples are made at their first use: make them
    with the multiprocess value class whenever the directory is set."""
    if os.environ.get(MULTIPROC_ENV) and not values.ValueClass._multiprocess:
        values.ValueClass = values.get_value_class()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    _multiprocess_values()
    REQUEST_SECONDS.labels(route, method, f"{status // 100}xx").observe(seconds)


def scrape_registry(*collectors: Collector) -> CollectorRegistry:
    """The registry one scrape reads: every process's request samples plus ``collectors``."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    for collector in collectors:
        registry.register(collector)
    return registry


class _Default(Collector):
    """This process's own metrics (the default registry), inside a fresh scrape registry."""

    def collect(self):
        yield from REGISTRY.collect()
