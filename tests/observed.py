"""What an operator of a generated service sees, read from its running containers: JSON log
lines, request ids, the Prometheus metrics of every server process, and the spans it
exported to an OTLP/HTTP endpoint the test runs (tests/otlp_sink.py)."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import otlp_sink
from dockerized import docker
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.parser import text_string_to_metric_families

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def log_lines(container: str) -> list[dict]:
    """Every line the container wrote, on stdout and stderr, each parsed as JSON: a line
    that is not JSON fails the test here."""
    logs = docker("logs", container)
    lines = [line for line in (logs.stdout + logs.stderr).splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"{container} wrote a line that is not JSON: {line!r}") from None
    return parsed


def raw_get(url: str, path: str, header_lines: list[bytes]) -> tuple[int, dict[str, str]]:
    """GET with header lines sent as they are (http.client refuses the malformed ones):
    the status and the response's headers, lowercased."""
    host, port = url.removeprefix("http://").split(":")
    request = b"\r\n".join([f"GET {path} HTTP/1.1".encode(), f"Host: {host}".encode(), *header_lines])
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in head[1:])
    return int(head[0].split()[1]), {k.strip().lower(): v.strip() for k, v in headers.items()}


def get_with_id(url: str, request_id: str) -> tuple[int, str]:
    """GET with an X-Request-ID: the status and the X-Request-ID answered."""
    request = urllib.request.Request(url, headers={"X-Request-ID": request_id})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["X-Request-ID"]
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Request-ID"]


def get_concurrently(url: str, count: int, threads: int = 6) -> None:
    """`count` GETs, each on a new connection, `threads` at once: the server's processes
    share them."""

    def get(_: int) -> int:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status

    with ThreadPoolExecutor(threads) as pool:
        assert set(pool.map(get, range(count))) == {200}


def metric(exposition: str, name: str, **labels: str) -> float:
    """The sample `name` with these labels (0 when absent)."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return sample.value
    return 0.0


def counts_by_process(container: str, route: str) -> dict[str, float]:
    """http_requests_total for `route`, as each server process wrote it to its own file in
    PROMETHEUS_MULTIPROC_DIR (read with prometheus-client, inside the container)."""
    script = (
        "import glob, json, os\n"
        "from prometheus_client.mmap_dict import MmapedDict\n"
        "for path in glob.glob(os.environ['PROMETHEUS_MULTIPROC_DIR'] + '/counter_*.db'):\n"
        "    keys = MmapedDict.read_all_values_from_file(path)\n"
        "    samples = [(json.loads(key), value) for key, value, *_ in keys]\n"
        "    print(os.path.basename(path), sum(value for key, value in samples\n"
        f"        if key[1] == 'http_requests_total' and key[2]['route'] == {route!r}))\n"
    )
    lines = docker("exec", container, "python", "-c", script).stdout.splitlines()
    return {name: float(count) for name, count in (line.split() for line in lines)}


def fetch_inside(container: str, url: str) -> str:
    """GET from inside the container (a port the stack does not publish)."""
    script = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    return docker("exec", container, "python", "-c", script).stdout


def sink_compose_file(project: Path, received: Path, services: list[str]) -> Path:
    """A compose file that adds the OTLP sink, in the app's image, and points `services` at it."""
    received.mkdir(mode=0o777, exist_ok=True)
    received.chmod(0o777)  # the image's user writes there
    exporting = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_sink.ENDPOINT, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    document = {
        "services": {
            "otlp": otlp_sink.compose_service("${APP_IMAGE}:${APP_TAG:-latest}", received),
            **{service: {"environment": exporting} for service in services},
        }
    }
    path = project / "compose.otlp.yaml"
    path.write_text(json.dumps(document, indent=2))
    return path


@dataclass(frozen=True)
class ExportedSpan:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    service: str


def exported_spans(received: Path) -> Iterator[ExportedSpan]:
    for export in sorted(received.glob("*.pb")):
        request = ExportTraceServiceRequest.FromString(export.read_bytes())
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield ExportedSpan(
                        span.name,
                        span.kind,
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                        attributes.get("service.name", ""),
                    )


SERVER, CLIENT, PRODUCER, CONSUMER = (
    Span.SPAN_KIND_SERVER,
    Span.SPAN_KIND_CLIENT,
    Span.SPAN_KIND_PRODUCER,
    Span.SPAN_KIND_CONSUMER,
)
