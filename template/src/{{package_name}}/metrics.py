"""Prometheus metrics of the HTTP server, served at GET /metrics.

Each server process counts its own requests. With PROMETHEUS_MULTIPROC_DIR set (the
production image sets it, on the container's tmpfs, and the entrypoint empties it) the
processes write their values there and /metrics adds them up, whichever process answers.
"""

import os
from functools import cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# The route is the template (/items/{item_id}), never the raw path, and a method outside
# HTTP's usual ones is "other": a client cannot make a new series per request.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUESTS = Counter(
    "http_requests_total",
    "Requests answered, by method, route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by method and route",
    ["method", "route"],
)
IN_PROGRESS = Gauge(
    "http_requests_in_progress", "Requests being answered", ["method"], multiprocess_mode="livesum"
)


def registry() -> CollectorRegistry:
    """Every process's values (multiprocess mode), or this process's."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


def exposition() -> tuple[bytes, str]:
    """The body and content type of GET /metrics."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


# Each series is looked up once: prometheus-client's labels() costs more than an increment.
# Few keys: known methods, routes and statuses.
@cache
def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


@cache
def in_progress(method: str) -> Gauge:
    return IN_PROGRESS.labels(method)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    count, latency = _series(method, route, status)
    count.inc()
    latency.observe(seconds)
