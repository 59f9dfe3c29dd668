"""The multi-replica guarantees of the Swarm stack, measured: a generated service (FastAPI,
PostgreSQL, Celery) deployed with `docker stack deploy` on a single-node swarm with 3 app
replicas, then, under steady load from a client on the stack's network,
- a release (the next image, by its digest) rolled out: requests sent, failed, p99 latency;
- one replica killed: requests failed, and when the last one failed after the kill.

Uses the test suite's Swarm helpers (tests/swarm.py, tests/load_client.py), so the bench
runs what the tests assert. Needs Docker; leaves the swarm as it found it.

    python bench/replicas.py --repeat 3
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import generate, report, sh, spread, summary

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dockerized import docker
from swarm import local_registry, next_release, published, stack_on_a_swarm, steady_load, wait_converged

REPLICAS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "service"
        generate(project, "worker=celery", "lock_tool=uv", 'deploy_targets=["swarm"]')
        image = f"bench-replicas-{uuid.uuid4().hex[:6]}"
        sh("docker", "build", "--quiet", "--tag", f"{image}:1", str(project))
        passwords = {"postgres_password": secrets.token_hex(16), "redis_password": secrets.token_hex(16)}
        with local_registry() as registry:
            try:
                reference = published(f"{image}:1", registry)
                with stack_on_a_swarm(project, reference, passwords, REPLICAS) as stack:
                    results = measure(stack, image, registry, args.repeat)
            finally:
                versions = range(1, args.repeat + 2)
                tags = [f"{prefix}{image}:{n}" for prefix in ("", f"{registry}/") for n in versions]
                docker("image", "rm", "--force", *tags, check=False)

    rows = [
        ("Measure", f"median of {args.repeat} (min-max)"),
        ("Migrations applied by 3 replicas starting together", str(results["migrations_applied"])),
        ("Rolling update: requests sent", spread(results["update_sent"], "requests", 0)),
        ("Rolling update: requests failed", spread(results["update_failed"], "requests", 0)),
        ("Rolling update: p99 latency", spread(results["update_p99_ms"], "ms", 1)),
        ("Rolling update: duration", spread(results["update_seconds"], "s", 0)),
        ("Replica killed: requests sent", spread(results["kill_sent"], "requests", 0)),
        ("Replica killed: requests failed", spread(results["kill_failed"], "requests", 0)),
        ("Replica killed: last failure after the kill", spread(results["kill_last_failure_ms"], "ms", 0)),
        (
            "Replica killed: failures after the first probe interval (5 s)",
            spread(results["kill_late"], "requests", 0),
        ),
    ]
    report("replicas", rows, results)


def measure(stack, image: str, registry: str, repeat: int) -> dict:
    logs = stack.logs("app")
    figures: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    item = stack.create_item()
    for run in range(repeat):
        release = published(next_release(f"{image}:1", str(run + 2)), registry)
        with steady_load(stack, f"/items/{item}") as update:
            started = time.monotonic()
            stack.deploy("--detach=false", APP_DIGEST=release.partition("@")[2])
            add("update_seconds", time.monotonic() - started)
        wait_converged(stack, "app", REPLICAS)
        add("update_sent", len(update.records))
        add("update_failed", len(update.failures()))
        add("update_p99_ms", update.p99_ms())

        with steady_load(stack, "/health") as kill:
            time.sleep(2)
            killed_at = time.time()
            docker("kill", stack.containers("app")[0])
            time.sleep(15)
        wait_converged(stack, "app", REPLICAS)
        failures = kill.failures()
        add("kill_sent", len(kill.records))
        add("kill_failed", len(failures))
        add("kill_last_failure_ms", max((f[0] - killed_at for f in failures), default=0) * 1000)
        add("kill_late", len(kill.failures(since=killed_at + 5)))
        print(f"run {run + 1}: update {update.summary()}; kill {kill.summary()}", flush=True)
    results: dict = {name: summary(values) for name, values in figures.items()}
    results["migrations_applied"] = logs.count("Running upgrade  -> 0001")
    return results


if __name__ == "__main__":
    main()
