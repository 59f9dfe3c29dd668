"""Containers benchmark: the generated prod image against a naive single-stage Dockerfile.

Both are built in the same run from the same base image and the same hash-pinned
requirements/prod.txt, for a service generated with the default answers. Prints a
Markdown table and writes it (and JSON) to bench/results/.

    .venv/bin/python bench/containers.py [--repeat 3] [--load-seconds 10]

Needs a Docker engine with BuildKit and network access to the package index.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import generate, report, sh, spread, summary, timed
from load import requests_per_second

PYTHON_VERSION = "3.13"

# What most tutorials show: one stage, a compiler toolchain, the whole context copied
# before installing, shell-form CMD (so SIGTERM never reaches the server).
NAIVE_DOCKERFILE = f"""\
FROM python:{PYTHON_VERSION}-slim
RUN apt-get update && apt-get install -y build-essential
WORKDIR /app
COPY . .
RUN pip install -r requirements/prod.txt
ENV PYTHONPATH=/app/src
EXPOSE 8000
CMD gunicorn -k uvicorn_worker.UvicornWorker -b 0.0.0.0:8000 "bench_service.app:create_app()"
"""


def build(project: Path, dockerfile: str, tag: str) -> float:
    return timed(
        "docker",
        "build",
        "--quiet",
        "--build-arg",
        f"PYTHON_VERSION={PYTHON_VERSION}",
        "--file",
        dockerfile,
        "--tag",
        tag,
        ".",
        cwd=project,
    )


def wait_http_ok(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


def wait_healthy(container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sh("docker", "inspect", container, "--format", "{{.State.Health.Status}}") == "healthy":
            return
        time.sleep(0.05)
    raise TimeoutError(container)


def run_and_stop(
    image: str, network: str, database_url: str, port: int, healthcheck: bool
) -> dict[str, float]:
    """Start the app container next to the database; time start-to-serving and docker stop."""
    name = f"bench-{image}-{port}"
    started = time.perf_counter()
    sh(
        "docker",
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        network,
        "--publish",
        f"127.0.0.1:{port}:8000",
        "--env",
        f"DATABASE_URL={database_url}",
        *(["--health-interval=2s"] if healthcheck else []),
        image,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health")
        serving = time.perf_counter() - started
        if healthcheck:
            wait_healthy(name)
        healthy = time.perf_counter() - started
        stop = timed("docker", "stop", name)
    finally:
        sh("docker", "rm", "--force", name, check=False)
    return {"serving": serving, "healthy": healthy, "stop": stop}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def size_of(tag: str) -> int:
    return int(sh("docker", "image", "inspect", tag, "--format", "{{.Size}}"))


def builds(project: Path, stack: str) -> dict[str, dict]:
    """Cold build, code-only rebuild and size of both images, built in turn from nothing."""
    (project / "Dockerfile.naive").write_text(NAIVE_DOCKERFILE)
    results: dict[str, dict] = {}
    for variant, dockerfile in {"template": "Dockerfile", "naive": "Dockerfile.naive"}.items():
        tag = f"{stack}-{variant}"
        # Cold: no layer cache and no BuildKit cache mounts.
        sh("docker", "builder", "prune", "--all", "--force")
        cold = build(project, dockerfile, tag)
        package = project / "src" / "bench_service" / "__init__.py"
        package.write_text(package.read_text() + f"# code-only change {time.time()}\n")
        rebuild = build(project, dockerfile, tag)
        results[variant] = {"tag": tag, "cold_build": cold, "code_rebuild": rebuild, "size": size_of(tag)}
    return results


def dependency_rebuilds(project: Path, tag: str, repeat: int) -> dict[str, dict]:
    """Rebuilds after the lock file changed (one dependency added): with BuildKit's pip
    cache mount warm, and with the cache mounts emptied first (every wheel downloaded
    again). Any change to prod.txt re-runs the install step; a comment numbers the runs
    so that no build is served from the layer cache."""
    prod_in = project / "requirements" / "prod.in"
    prod_in.write_text(prod_in.read_text() + "six\n")
    # The project's own lock command (make lock); this interpreter has uv.
    sh(sys.executable, "tools/lock.py", "--tool=uv", cwd=project)
    prod_txt = project / "requirements" / "prod.txt"
    locked = prod_txt.read_text()
    cached, uncached = [], []
    for run in range(repeat):
        prod_txt.write_text(locked + f"# bench run {run}, cache warm\n")
        cached.append(build(project, "Dockerfile", tag))
        prod_txt.write_text(locked + f"# bench run {run}, cache emptied\n")
        reclaimed = sh("docker", "builder", "prune", "--force", "--filter", "type=exec.cachemount")
        if "Total:" not in reclaimed and "reclaimed" not in reclaimed.lower():
            sys.exit(f"could not empty BuildKit's cache mounts: {reclaimed}")
        uncached.append(build(project, "Dockerfile", tag))
    return {"dependency_rebuild_cached": summary(cached), "dependency_rebuild_uncached": summary(uncached)}


def write_env(project: Path, **variables: object) -> None:
    """The project's .env, then its passwords into secrets/, as `make prod-up` does first."""
    (project / ".env").write_text("".join(f"{name}={value}\n" for name, value in variables.items()))
    sh("make", "prod-secrets", cwd=project)


def compose_command(stack: str, *files: str) -> tuple[str, ...]:
    return ("docker", "compose", "-p", stack, *(arg for f in files for arg in ("-f", f)))


def start_stop(project: Path, stack: str, results: dict[str, dict], repeat: int) -> None:
    """Each image next to the real PostgreSQL: start to serving /health, to healthy, stop."""
    compose = compose_command(stack, "compose.yaml", "compose.prod.yaml")
    sh(*compose, "up", "--detach", "--wait", "db", cwd=project)
    database_url = "postgresql+psycopg://bench_service:bench@db:5432/bench_service?connect_timeout=5"
    network = f"{stack}_default"
    sh(
        "docker",
        "run",
        "--rm",
        "--network",
        network,
        "--env",
        f"DATABASE_URL={database_url}",
        "--entrypoint",
        "alembic",
        results["template"]["tag"],
        "upgrade",
        "head",
    )
    for variant in ("template", "naive"):
        runs = [
            run_and_stop(
                results[variant]["tag"], network, database_url, free_port(), healthcheck=variant == "template"
            )
            for _ in range(repeat)
        ]
        for key in ("serving", "healthy", "stop"):
            results[variant][key] = summary([run[key] for run in runs])
    sh(*compose, "down", "--volumes", cwd=project)


def stacks(project: Path, stack: str, results: dict[str, dict], repeat: int, load_seconds: float) -> None:
    """The prod stack's `up --wait`, then /health under load: prod server, then dev server."""
    ours = results["template"]
    sh("docker", "tag", ours["tag"], f"{stack}:latest")
    prod = compose_command(stack, "compose.yaml", "compose.prod.yaml")
    ups = []
    for _ in range(repeat):
        ups.append(timed(*prod, "up", "--detach", "--wait", cwd=project))
        sh(*prod, "down", "--volumes", cwd=project)
    ours["stack_up"] = summary(ups)

    app_port = (project / ".env").read_text().split("APP_PORT=")[1].split()[0]
    url = f"http://127.0.0.1:{app_port}/health"
    sh(*prod, "up", "--detach", "--wait", cwd=project)
    ours["rps_prod"], ours["load_generator"] = load(url, load_seconds, repeat)
    sh(*prod, "down", "--volumes", cwd=project)

    dev = compose_command(f"{stack}dev", "compose.yaml", "compose.override.yaml")
    sh(*dev, "up", "--build", "--detach", "--wait", cwd=project)
    try:
        wait_http_ok(url)
        ours["dev_size"] = size_of(f"{stack}-dev:latest")
        ours["rps_dev"], _ = load(url, load_seconds, repeat)
    finally:
        sh(*dev, "down", "--volumes", cwd=project, check=False)
        sh("docker", "image", "rm", "--force", f"{stack}-dev:latest", check=False)


def load(url: str, seconds: float, repeat: int) -> tuple[dict[str, float], str]:
    runs = [requests_per_second(url, seconds) for _ in range(repeat)]
    return summary([rate for rate, _ in runs]), runs[0][1]


def worker_stop(work: Path, stack: str, repeat: int) -> dict[str, float]:
    """`docker stop` of the Celery worker in the prod stack of a service that has one."""
    project = work / "worker-service"
    generate(project, "lock_tool=uv", "worker=celery", "database=none")
    write_env(project, REDIS_PASSWORD="bench", APP_IMAGE=f"{stack}w", APP_PORT=free_port())
    compose = compose_command(f"{stack}w", "compose.yaml", "compose.prod.yaml")
    stops = []
    try:
        sh(*compose, "up", "--build", "--detach", "--wait", cwd=project)
        for _ in range(repeat):
            worker = sh(*compose, "ps", "--quiet", "worker", cwd=project)
            stops.append(timed("docker", "stop", worker))
            sh(*compose, "up", "--detach", "--wait", cwd=project)
    finally:
        sh(*compose, "down", "--volumes", cwd=project, check=False)
        sh("docker", "image", "rm", "--force", f"{stack}w:latest", check=False)
    return summary(stops)


def measure(repeat: int, load_seconds: float = 10) -> dict[str, dict]:
    work = Path(tempfile.mkdtemp(prefix="pst-bench-"))
    project = work / "bench-service"
    stack = f"pstbench{int(time.time())}"
    try:
        generate(project, "lock_tool=uv")
        write_env(project, POSTGRES_PASSWORD="bench", APP_IMAGE=stack, APP_PORT=free_port())
        results = builds(project, stack)
        results["template"].update(dependency_rebuilds(project, results["template"]["tag"], repeat))
        start_stop(project, stack, results, repeat)
        stacks(project, stack, results, repeat, load_seconds)
        results["template"]["worker_stop"] = worker_stop(work, stack, repeat)
        return results
    finally:
        for name in (stack, f"{stack}dev"):
            subprocess.run(
                ("docker", "compose", "-p", name, "down", "--volumes"),
                cwd=project,
                capture_output=True,
                check=False,
            )
        for tag in (f"{stack}-template", f"{stack}-naive", f"{stack}:latest"):
            subprocess.run(("docker", "image", "rm", "--force", tag), capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


def mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def table(results: dict[str, dict]) -> list[tuple[str, str, str, str, str]]:
    """Rows: measure, this template, naive Dockerfile, ratio, target."""
    ours, naive = results["template"], results["naive"]
    warm, emptied = ours["dependency_rebuild_cached"], ours["dependency_rebuild_uncached"]
    return [
        (
            "Prod image size",
            mb(ours["size"]),
            mb(naive["size"]),
            f"{ours['size'] / naive['size']:.0%}",
            "≤ 50%",
        ),
        ("Dev image size", mb(ours["dev_size"]), "", "", ""),
        (
            "Cold build",
            f"{ours['cold_build']:.1f} s",
            f"{naive['cold_build']:.1f} s",
            f"{ours['cold_build'] / naive['cold_build']:.0%}",
            "",
        ),
        (
            "Rebuild after a code-only change",
            f"{ours['code_rebuild']:.1f} s",
            f"{naive['code_rebuild']:.1f} s",
            f"{ours['code_rebuild'] / ours['cold_build']:.0%} of its cold build",
            "≤ 10%",
        ),
        (
            "Rebuild after one dependency change, BuildKit cache warm",
            spread(warm, digits=1),
            "",
            f"{warm['median'] / emptied['median']:.0%} of cache emptied",
            "",
        ),
        (
            "Rebuild after one dependency change, cache mounts emptied",
            spread(emptied, digits=1),
            "",
            "",
            "",
        ),
        ("App container start → serving /health", spread(ours["serving"]), spread(naive["serving"]), "", ""),
        ("App container start → healthy", spread(ours["healthy"]), "no HEALTHCHECK", "", "≤ 3 s"),
        ("`docker stop` of the app", spread(ours["stop"]), spread(naive["stop"]), "", "≤ 2 s"),
        ("`docker stop` of the Celery worker", spread(ours["worker_stop"]), "", "", "≤ 2 s"),
        ("`compose up --wait`, prod stack (app + PostgreSQL)", spread(ours["stack_up"]), "", "", ""),
        (
            f"/health requests/s, prod server vs dev server ({ours['load_generator']})",
            f"{spread(ours['rps_prod'], 'req/s', 0)} vs {spread(ours['rps_dev'], 'req/s', 0)}",
            "",
            f"{ours['rps_prod']['median'] / ours['rps_dev']['median']:.1f}x",
            "≥ 2x",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per start/stop measurement")
    parser.add_argument("--load-seconds", type=float, default=10)
    arguments = parser.parse_args()
    results = measure(arguments.repeat, arguments.load_seconds)
    report("containers", table(results), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
