"""What operating a service costs: JSON logs, request ids, metrics and traces, on and off,
side by side in one run; and the image and dependencies they add.

For a FastAPI and a Flask service (PostgreSQL, tracing generated), the production stack's
app (its 2 server processes pinned to CPU 1) gets `wrk -t2 -c32 --latency` (pinned to CPU
0, with PostgreSQL) on /health and on GET /items/1 (one row), in each of these settings
of the same image, taken in turn in every round (--repeat rounds):
- off: LOG_FORMAT=text, METRICS_ENABLED=false, no OTLP endpoint (request ids stay on);
- logs + metrics: as the image ships (LOG_FORMAT=json, /metrics, multiprocess mode);
- + access log: and ACCESS_LOG=true, a JSON line per request;
- + tracing: logs + metrics, and every request traced, its spans exported over OTLP/HTTP
  to a sink on the stack's network (tests/otlp_sink.py, which drops them).
Then, for the default answers: the production image's size over its base and the packages
in requirements/prod.txt, at --before (a commit before this feature), at HEAD, and at HEAD
with tracing.

    .venv/bin/python bench/observability.py [--repeat 3] [--seconds 6] [--before REF]

Needs Docker, wrk (Debian package) and the package index.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from common import ROOT, generate, report, sh, summary

sys.path.append(str(ROOT / "tests"))
import otlp_sink  # the tests' sink, beside them
from containers import compose_command, free_port, wait_http_ok, write_env
from image_sizes import BASE, size_of
from servers import load_cells, wrk

APP_CPU, WRK_CPU = "1", "0"
OFF = {"LOG_FORMAT": "text", "METRICS_ENABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": ""}
ON = {"LOG_FORMAT": "json", "METRICS_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": ""}
SETTINGS = {
    "off": {**OFF, "ACCESS_LOG": "false"},
    "logs + metrics": {**ON, "ACCESS_LOG": "false"},
    "+ access log": {**ON, "ACCESS_LOG": "true"},
    "+ tracing": {**ON, "ACCESS_LOG": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_sink.ENDPOINT},
}
# The commit before JSON logs, request ids and metrics came in.
BEFORE = "fbebcba"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+==", re.MULTILINE)


def compose(project: Path, stack: str, environment: dict[str, str]) -> tuple[str, ...]:
    """The prod stack, the app in `environment`, and the OTLP sink in the app's image."""
    services = {
        # The app on one CPU and the load generator on the other: they do not take turns.
        "app": {"environment": environment, "cpuset": APP_CPU},
        "otlp": otlp_sink.compose_service(f"{stack}:latest"),
    }
    (project / "bench.override.yaml").write_text(json.dumps({"services": services}))
    return compose_command(stack, "compose.yaml", "compose.prod.yaml", "bench.override.yaml")


def one_run(
    project: Path, stack: str, environment: dict[str, str], base: str, seconds: float
) -> dict[str, dict]:
    files = compose(project, stack, environment)
    sh(*files, "up", "--detach", "--force-recreate", "--no-deps", "app", cwd=project)
    wait_http_ok(f"{base}/health")
    wrk(f"{base}/items/1", 2, WRK_CPU)  # warm-up: every process opens its connections
    return {
        "health": wrk(f"{base}/health", seconds, WRK_CPU),
        "items": wrk(f"{base}/items/1", seconds, WRK_CPU),
    }


def throughput(repeat: int, seconds: float, work: Path) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for framework in ("fastapi", "flask"):
        stack = f"pstobs{framework}"
        project = work / framework
        generate(project, "lock_tool=uv", f"framework={framework}", "worker=none", "tracing=true")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        write_env(project, POSTGRES_PASSWORD="bench", APP_IMAGE=stack, APP_PORT=port, APP_CPUS=1)
        runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
        try:
            sh("docker", "build", "--quiet", "--tag", f"{stack}:latest", ".", cwd=project)
            files = compose(project, stack, SETTINGS["off"])
            sh(*files, "up", "--detach", "--wait", "db", "otlp", "app", cwd=project)
            request = urllib.request.Request(
                f"{base}/items",
                data=b'{"name": "bench"}',
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=5).close()
            for _ in range(repeat):  # each setting once per round: drift hits them alike
                for name, environment in SETTINGS.items():
                    runs[name].append(one_run(project, stack, environment, base, seconds))
        finally:
            sh(*compose(project, stack, {}), "down", "--volumes", cwd=project, check=False)
            sh("docker", "image", "rm", "--force", f"{stack}:latest", check=False)
        results[framework] = {
            name: {
                f"{path}_{figure}": summary([run[path][figure] for run in done])
                for path in ("health", "items")
                for figure in ("rps", "p99_ms")
            }
            | {"errors": sum(run[path]["errors"] for run in done for path in ("health", "items"))}
            for name, done in runs.items()
        }
    return results


def footprint(before: str, work: Path) -> dict[str, dict]:
    """The default answers' image and locked packages, before and after."""
    base = size_of(BASE)
    found = {}
    for name, ref, answers in [
        (f"before ({before})", before, ()),
        ("after", "HEAD", ()),
        ("after, tracing", "HEAD", ("tracing=true",)),
    ]:
        project = work / re.sub(r"\W+", "-", name).strip("-")
        generate(project, *answers, vcs_ref=ref)
        tag = f"pst-obs-size-{project.name}"
        sh("docker", "build", "--quiet", "--tag", tag, ".", cwd=project)
        prod = (project / "requirements" / "prod.txt").read_text()
        found[name] = {"added_bytes": size_of(tag) - base, "packages": len(PINNED.findall(prod))}
        sh("docker", "image", "rm", "--force", tag)
    return found


def table(results: dict) -> list[tuple[str, ...]]:
    rows = [("Setting (2 processes, 1 CPU)", "/health req/s", "p99", "/items/1 req/s", "p99", "req/s vs off")]
    for framework, settings in results["throughput"].items():
        off = settings["off"]
        for name, data in settings.items():
            ratios = [
                data[f"{path}_rps"]["median"] / off[f"{path}_rps"]["median"] for path in ("health", "items")
            ]
            rows.append(
                (*load_cells(f"{framework}: {name}", data), " / ".join(f"{ratio:.0%}" for ratio in ratios))
            )
    rows.append(("Default answers", f"image over {BASE}", "packages in prod.txt", "", "", ""))
    for name, data in results["footprint"].items():
        rows.append((name, f"{data['added_bytes'] / 1e6:.1f} MB", str(data["packages"]), "", "", ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--before", default=BEFORE, help="the template commit to compare with")
    arguments = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="pst-observability-"))
    try:
        results = {
            "throughput": throughput(arguments.repeat, arguments.seconds, work),
            "footprint": footprint(arguments.before, work),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("observability", table(results), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
