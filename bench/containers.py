"""Containers benchmark: the generated prod image against a naive single-stage Dockerfile.

Both are built in the same run from the same base image and the same hash-pinned
requirements/prod.txt, for a service generated with the default answers. Prints a
Markdown table and writes it (and JSON) to bench/results/.

    .venv/bin/python bench/containers.py [--repeat 3]

Needs a Docker engine with BuildKit and network access to the package index.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
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


def sh(*command: str, cwd: Path | None = None, check: bool = True) -> str:
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if check and completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return completed.stdout.strip()


def timed(*command: str, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    sh(*command, cwd=cwd)
    return time.perf_counter() - started


def generate(destination: Path) -> None:
    copier = str(Path(sys.executable).with_name("copier"))
    sh(
        copier,
        "copy",
        "--trust",
        "--defaults",
        "--quiet",
        "--vcs-ref=HEAD",
        "--data=project_name=Bench Service",
        "--data=lock_tool=uv",
        str(ROOT),
        str(destination),
    )


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


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per start/stop measurement")
    arguments = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pst-bench-"))
    project = work / "bench-service"
    stack = f"pstbench{int(time.time())}"
    try:
        generate(project)
        (project / "Dockerfile.naive").write_text(NAIVE_DOCKERFILE)
        variants = {"template": "Dockerfile", "naive": "Dockerfile.naive"}
        results: dict[str, dict] = {}
        for variant, dockerfile in variants.items():
            tag = f"{stack}-{variant}"
            # Cold: no layer cache and no BuildKit cache mounts.
            sh("docker", "builder", "prune", "--all", "--force")
            cold = build(project, dockerfile, tag)
            package = project / "src" / "bench_service" / "__init__.py"
            package.write_text(package.read_text() + f"# code-only change {time.time()}\n")
            rebuild = build(project, dockerfile, tag)
            size = int(sh("docker", "image", "inspect", tag, "--format", "{{.Size}}"))
            results[variant] = {"tag": tag, "cold_build": cold, "code_rebuild": rebuild, "size": size}

        # The real database, from the generated compose files.
        env_file = project / ".env"
        env_file.write_text(f"POSTGRES_PASSWORD=bench\nAPP_IMAGE={stack}\n")
        compose = ("docker", "compose", "-p", stack, "-f", "compose.yaml", "-f", "compose.prod.yaml")
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
        for port_offset, variant in enumerate(variants):
            runs = [
                run_and_stop(
                    results[variant]["tag"],
                    network,
                    database_url,
                    18500 + 10 * port_offset + i,
                    healthcheck=variant == "template",
                )
                for i in range(arguments.repeat)
            ]
            for key in ("serving", "healthy", "stop"):
                results[variant][key] = summary([run[key] for run in runs])

        # The whole production stack, images already built: `up` until every service is healthy.
        sh("docker", "tag", results["template"]["tag"], f"{stack}:latest")
        sh(*compose, "down", "--volumes", cwd=project)
        ups = []
        for _ in range(arguments.repeat):
            ups.append(timed(*compose, "up", "--detach", "--wait", cwd=project))
            sh(*compose, "down", "--volumes", cwd=project)
        results["template"]["stack_up"] = summary(ups)
        report(results, arguments.repeat)
        return 0
    finally:
        subprocess.run(
            ("docker", "compose", "-p", stack, "down", "--volumes"),
            cwd=project,
            capture_output=True,
            check=False,
        )
        for tag in (f"{stack}-template", f"{stack}-naive", f"{stack}:latest"):
            subprocess.run(("docker", "image", "rm", "--force", tag), capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, dict], repeat: int) -> None:
    ours, naive = results["template"], results["naive"]

    def mb(size: int) -> str:
        return f"{size / 1e6:.0f} MB"

    def spread(stat: dict[str, float]) -> str:
        return f"{stat['median']:.2f} s ({stat['min']:.2f}-{stat['max']:.2f})"

    rows = [
        (
            "Prod image size",
            mb(ours["size"]),
            mb(naive["size"]),
            f"{ours['size'] / naive['size']:.0%}",
            "≤ 50%",
        ),
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
        ("App container start → serving /health", spread(ours["serving"]), spread(naive["serving"]), "", ""),
        ("App container start → healthy", spread(ours["healthy"]), "no HEALTHCHECK", "", "≤ 3 s"),
        ("`docker stop` of the app", spread(ours["stop"]), spread(naive["stop"]), "", "≤ 2 s"),
        ("`compose up --wait`, prod stack (app + PostgreSQL)", spread(ours["stack_up"]), "", "", ""),
    ]
    lines = [
        f"Medians of {repeat} runs (min-max); builds once each, cold = no layer or BuildKit cache.",
        "",
        "| Measure | This template | Naive Dockerfile | Ratio | Target |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "containers.md").write_text(table + "\n")
    (RESULTS / "containers.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
