"""The database path under load, and the production server against what a user would pick.

For a FastAPI and a Flask service (PostgreSQL; the other answers default), each variant runs
as the production stack's app service (its CPU and memory limits, its PostgreSQL) and gets
`wrk -t2 -c32 --latency` on /health and on GET /items/1 (one row): requests/s and p99,
--repeat runs each after a warm-up, and the new PostgreSQL sessions
(pg_stat_database.sessions) during each /items/1 run.

    .venv/bin/python bench/servers.py [--repeat 5] [--seconds 6]

Variants: the same image and app code; only the server command or the pool differs.
- ours: as generated (FastAPI: gunicorn + uvicorn's worker; Flask: granian with THREADS
  threads; a pool of THREADS connections per process, pinged).
- no pre-ping: ours without the ping per checkout.
- default pool: SQLAlchemy's default pool (5 + 10 overflow), the template before 0.4.0.
- uvicorn --workers 2: what `fastapi run --workers 2` runs (FastAPI).
- granian: granian --workers 2 (FastAPI).
- gunicorn sync: gunicorn's default sync workers, 2 (Flask).
- gunicorn gthread: gunicorn's threaded workers, 4 threads: Flask's server before 0.4.0.
The rivals' server is installed at the version in RIVAL_SERVER.
Needs Docker, wrk (Debian package) and the package index.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from common import generate, report, sh, spread, summary
from containers import compose_command, free_port, wait_http_ok, write_env

PACKAGE = "bench_service"
WORKERS = "2"
SECONDS = 6.0  # of steady load per run
# The newest releases on 2026-11-24.
RIVAL_SERVER = {"fastapi": "granian==2.8.7", "flask": "gunicorn==27.0.1"}
DB_FILE = Path("src") / PACKAGE / "db.py"
OURS_POOL = re.compile(r"engine = create_engine\(\n.*?\n        \)", re.DOTALL)
PATCHES = {
    "no pre-ping": lambda text: text.replace("pool_pre_ping=True", "pool_pre_ping=False"),
    "default pool": lambda text: OURS_POOL.sub("engine = create_engine(url, pool_pre_ping=True)", text),
}
APP = f"{PACKAGE}.app:create_app"


COMMANDS = {
    "fastapi": {
        "uvicorn --workers 2": ["uvicorn", "--factory", APP, "--host", "0.0.0.0", "--workers", WORKERS],
        "granian": [
            "granian",
            "--interface",
            "asgi",
            "--factory",
            APP,
            "--host",
            "0.0.0.0",
            "--workers",
            WORKERS,
        ],
    },
    "flask": {
        "gunicorn sync": ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", WORKERS, f"{APP}()"],
        # The server of 0.3.0: gunicorn's threaded workers, as many threads as ours.
        "gunicorn gthread": [
            "gunicorn",
            "--bind",
            "0.0.0.0:8000",
            "--workers",
            WORKERS,
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            f"{APP}()",
        ],
    },
}
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: float, cpu: str | None = None) -> dict[str, float]:
    """wrk's figures; on one CPU (taskset) when `cpu` names it."""
    pinned = ["taskset", "--cpu-list", cpu] if cpu else []
    completed = subprocess.run(
        [*pinned, "wrk", "-t2", "-c32", f"-d{int(seconds)}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    rate, p99 = WRK_RATE.search(completed.stdout), WRK_P99.search(completed.stdout)
    if not (rate and p99):
        sys.exit(f"wrk printed no rate or p99:\n{completed.stdout}")
    errors = WRK_ERRORS.search(completed.stdout)
    return {
        "rps": float(rate.group(1)),
        "p99_ms": float(p99.group(1)) * UNITS[p99.group(2)],
        "errors": 1.0 if errors else 0.0,
    }


def sessions(compose: tuple[str, ...], project: Path) -> int:
    """Sessions PostgreSQL has started on the app's database (this query connects to another)."""
    query = f"SELECT sessions FROM pg_stat_database WHERE datname = '{PACKAGE}'"
    return int(
        sh(*compose, "exec", "-T", "db", "psql", "-U", PACKAGE, "-d", "postgres", "-Atc", query, cwd=project)
    )


def images(project: Path, stack: str, framework: str) -> dict[str, tuple[str, list[str] | None]]:
    """{variant: (image, command or None for the image's own)}, every image built."""
    ours = f"{stack}-ours"
    sh("docker", "build", "--quiet", "--tag", ours, ".", cwd=project)
    variants: dict[str, tuple[str, list[str] | None]] = {"ours": (ours, None)}
    if framework == "fastapi":
        for name, patch in PATCHES.items():
            copy = project.parent / f"{project.name}-{name.replace(' ', '-')}"
            shutil.copytree(project, copy)
            (copy / DB_FILE).write_text(patch((copy / DB_FILE).read_text()))
            assert (copy / DB_FILE).read_text() != (project / DB_FILE).read_text(), name
            tag = f"{stack}-{name.replace(' ', '-')}"
            sh("docker", "build", "--quiet", "--tag", tag, ".", cwd=copy)
            variants[name] = (tag, None)
    # The rivals' server, which the service does not install.
    extra = project / "Dockerfile.rival"
    extra.write_text(
        f"FROM {ours}\nUSER root\n"
        f"RUN pip --python /opt/venv/bin/python install --quiet {RIVAL_SERVER[framework]}\nUSER 10001:10001\n"
    )
    sh("docker", "build", "--quiet", "--file", extra.name, "--tag", f"{stack}-rival", ".", cwd=project)
    for name, command in COMMANDS[framework].items():
        variants[name] = (f"{stack}-rival", command)
    return variants


def override(project: Path, stack: str, app: dict) -> tuple[str, ...]:
    """The prod stack with `app` changed, and PostgreSQL's own health probe (pg_isready)
    pointed at another database: it connects every 2 s, which would count as sessions."""
    probe = ["CMD", "pg_isready", "--username", PACKAGE, "--dbname", "postgres"]
    services = {"app": app, "db": {"healthcheck": {"test": probe}}}
    (project / "bench.override.yaml").write_text(json.dumps({"services": services}))
    return compose_command(stack, "compose.yaml", "compose.prod.yaml", "bench.override.yaml")


def measure_variant(
    project: Path, stack: str, image: str, command: list[str] | None, repeat: int, seconds: float
) -> dict[str, dict]:
    app = {"image": image, **({"command": command} if command else {})}
    compose = override(project, stack, app)
    sh(*compose, "up", "--detach", "--wait", "--force-recreate", "app", cwd=project)
    port = (project / ".env").read_text().split("APP_PORT=")[1].split()[0]
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{base}/health")
    request = urllib.request.Request(
        f"{base}/items", data=b'{"name": "bench"}', headers={"Content-Type": "application/json"}
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except urllib.error.HTTPError as error:
        if error.code != 409:  # 409: an earlier variant created it
            raise
    wrk(f"{base}/items/1", 2)  # warm-up: every process opens its connections
    health, items, new_sessions = [], [], []
    for _ in range(repeat):
        health.append(wrk(f"{base}/health", seconds))
        before = sessions(compose, project)
        items.append(wrk(f"{base}/items/1", seconds))
        new_sessions.append(sessions(compose, project) - before)
    return {
        "health_rps": summary([run["rps"] for run in health]),
        "health_p99_ms": summary([run["p99_ms"] for run in health]),
        "items_rps": summary([run["rps"] for run in items]),
        "items_p99_ms": summary([run["p99_ms"] for run in items]),
        "errors": sum(run["errors"] for run in health + items),
        "new_sessions": summary([float(n) for n in new_sessions]),
    }


def measure(repeat: int, seconds: float, frameworks: tuple[str, ...] = tuple(COMMANDS)) -> dict[str, dict]:
    results: dict[str, dict] = {}
    work = Path(tempfile.mkdtemp(prefix="pst-servers-"))
    try:
        for framework in frameworks:
            stack = f"pstbench{framework}"
            project = work / framework
            generate(project, "lock_tool=uv", f"framework={framework}", "database=postgresql", "worker=none")
            write_env(project, POSTGRES_PASSWORD="bench", APP_IMAGE=stack, APP_PORT=free_port())
            variants: dict[str, tuple[str, list[str] | None]] = {}
            try:
                variants = images(project, stack, framework)
                sh(*override(project, stack, {}), "up", "--detach", "--wait", "db", cwd=project)
                results[framework] = {
                    name: measure_variant(project, stack, image, command, repeat, seconds)
                    for name, (image, command) in variants.items()
                }
            finally:
                sh(*override(project, stack, {}), "down", "--volumes", cwd=project, check=False)
                for image, _ in variants.values():
                    sh("docker", "image", "rm", "--force", image, check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def load_cells(label: str, data: dict) -> tuple[str, ...]:
    """A row's first cells: the variant, then its /health and /items/1 req/s and p99."""
    return (
        label + (" (errors)" if data["errors"] else ""),
        spread(data["health_rps"], "", 0),
        spread(data["health_p99_ms"], "ms", 1),
        spread(data["items_rps"], "", 0),
        spread(data["items_p99_ms"], "ms", 1),
    )


def table(results: dict[str, dict]) -> list[tuple[str, ...]]:
    rows = [
        (
            "Server (2 processes, 2 CPUs)",
            "/health req/s",
            "p99",
            "/items/1 req/s",
            "p99",
            "new PG sessions / run",
        )
    ]
    for framework, variants in results.items():
        for name, data in variants.items():
            sessions = data["new_sessions"]
            rows.append(
                (
                    *load_cells(f"{framework}: {name}", data),
                    f"{sessions['median']:.0f} ({sessions['min']:.0f}-{sessions['max']:.0f})",
                )
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--framework", choices=sorted(COMMANDS), action="append", help="default: both")
    arguments = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install wrk)")
    results = measure(arguments.repeat, arguments.seconds, tuple(arguments.framework or COMMANDS))
    report("servers", table(results), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
