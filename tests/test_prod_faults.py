"""The production compose stack under the faults an operator meets: Redis killed with
queued tasks, PostgreSQL restarted and killed under load, the database lost and restored
from a backup. Needs a Docker engine (../shared/docker-lab/up); never skipped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dockerized import PROD_FILES, Stack, docker, http, running, wait_for
from observed import fetch_inside, metric
from support import FASTAPI_EVERY_SERVICE_314, execute
from test_containers import secrets_for
from test_locks import group

# FastAPI with PostgreSQL and Celery, whose images the container tests build too.
ANSWERS = FASTAPI_EVERY_SERVICE_314
pytestmark = pytest.mark.xdist_group(group(ANSWERS))
LOAD_CLIENT = Path(__file__).with_name("load_client.py")


# A task that takes as long as it is told and counts its starts in Redis (the result
# backend): the documented way to add tasks to the worker, `start-worker.sh --include`.
SLOW_TASKS = """
import time

from orders_service.worker import celery_app


@celery_app.task(name="tests.slow", bind=True)
def slow(self, seconds: float) -> int:
    starts = celery_app.backend.client.incr(f"tests.slow.starts.{self.request.id}")
    time.sleep(seconds)
    return starts
"""
# Seconds a taken task stays unacknowledged before Redis gives it out again (900 by default).
VISIBILITY_TIMEOUT = 10
WITH_SLOW_TASKS = {
    "services": {
        "worker": {
            "command": ["/app/scripts/start-worker.sh", "--include", "slow_tasks"],
            "volumes": ["./slow_tasks.py:/app/src/slow_tasks.py:ro"],
        }
    }
}


@pytest.fixture(scope="module")
def stack(locked, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    project = tmp_path_factory.mktemp("faults") / "service"
    shutil.copytree(locked(**ANSWERS), project)
    (project / "slow_tasks.py").write_text(SLOW_TASKS)
    (project / "slow-tasks.yaml").write_text(json.dumps(WITH_SLOW_TASKS))
    files = (*PROD_FILES, "-f", "slow-tasks.yaml")
    # The timeout as a user sets it: in the environment of `make prod-up` (or .env).
    environment = {**secrets_for(ANSWERS), "TASK_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}
    production = Stack(project, ANSWERS["python_version"], files=files, env=environment)
    with running(production) as started:
        yield started


def healthy(stack: Stack, service: str) -> bool:
    container = stack.container(service)
    return docker("inspect", "--format", "{{.State.Health.Status}}", container).stdout.strip() == "healthy"


def start(stack: Stack, service: str) -> None:
    stack.compose("start", service)
    wait_for(lambda: healthy(stack, service), timeout=90, interval=0.5)


def crash(stack: Stack, service: str) -> None:
    """SIGKILL the service's process, as the kernel's OOM killer would, and start it again."""
    docker("kill", "--signal", "KILL", stack.container(service))
    start(stack, service)


def task_state(stack: Stack, task_id: str) -> str:
    return http("GET", f"{stack.url}/tasks/{task_id}")[1]["status"]


def test_tasks_queued_while_redis_crashes_all_run_exactly_once(stack: Stack) -> None:
    stack.compose("stop", "worker")
    queued = []
    for number in range(10):
        status, body = http("POST", f"{stack.url}/tasks/add", {"x": number, "y": 1})
        assert status == 202, body
        queued.append(body["task_id"])

    crash(stack, "redis")
    stack.compose("start", "worker")

    wait_for(lambda: all(task_state(stack, task) == "SUCCESS" for task in queued), timeout=60, interval=1)
    ran = metric(
        fetch_inside(stack.container("worker"), "http://127.0.0.1:9100/metrics"),
        "celery_tasks_total",
        task="orders_service.add",
        state="SUCCESS",
    )
    assert ran == len(queued)


# A consumer step that takes 5 s to start, as one waiting for a slow broker would, started
# after the step that makes the readiness file: the worker consumes once every step started.
SLOW_START = """
import time

from celery import bootsteps

from orders_service.worker import celery_app


class SlowStart(bootsteps.StartStopStep):
    requires = ("orders_service.worker:_Consuming",)

    def start(self, parent: object) -> None:
        time.sleep(5)


celery_app.steps["consumer"].add(SlowStart)
"""
CONSUMING = ["test", "-e", "/tmp/worker-consuming"]  # the Deployment's readiness probe


def test_a_worker_is_ready_only_while_it_consumes(stack: Stack) -> None:
    (stack.project / "slow_start.py").write_text(SLOW_START)
    worker = f"{stack.name}-slow-start"
    mount = f"{stack.project / 'slow_start.py'}:/app/src/slow_start.py:ro"
    command = ("/app/scripts/start-worker.sh", "--include", "slow_start")
    stack.compose("run", "--detach", "--no-deps", "--name", worker, "--volume", mount, "worker", *command)
    try:

        def ready() -> bool:
            return docker("exec", worker, *CONSUMING, check=False).returncode == 0

        # Not while its consumer starts: only once it consumes, which it logs as "ready"
        # (the log line is written first; 1 s for Docker to copy it, not the 5 s of the step).
        wait_for(ready, timeout=90, interval=0.1)
        wait_for(lambda: " ready." in docker("logs", worker).stdout, timeout=1, interval=0.1)
        # Not while Redis is away, and again once it is back.
        stack.compose("stop", "redis")
        try:
            wait_for(lambda: not ready(), timeout=10, interval=0.2)
        finally:
            start(stack, "redis")
        wait_for(ready, timeout=60, interval=0.5)
    finally:
        docker("rm", "--force", worker, check=False)


def restart_count(container: str) -> int:
    return int(docker("inspect", "--format", "{{.RestartCount}}", container).stdout)


def test_the_app_killed_from_the_host_is_restarted_and_serves_again(stack: Stack) -> None:
    app = stack.container("app")
    restarts = restart_count(app)
    os.kill(int(docker("inspect", "--format", "{{.State.Pid}}", app).stdout), signal.SIGKILL)
    killed = time.monotonic()

    # Restarted by its restart policy (unless-stopped), not by anyone starting it.
    wait_for(lambda: restart_count(app) == restarts + 1, timeout=60, interval=0.2)
    wait_for(lambda: http("GET", f"{stack.url}/ready")[0] == 200, timeout=60, interval=0.2)
    print(f"\napp killed from the host: serving again {time.monotonic() - killed:.1f} s later")


def test_a_task_whose_worker_is_killed_runs_again_when_a_worker_is_back(stack: Stack) -> None:
    send = "from slow_tasks import slow; print(slow.delay(6).id)"
    task = stack.compose("exec", "-T", "worker", "python", "-c", send).stdout.strip()
    wait_for(lambda: task_state(stack, task) == "STARTED", timeout=30, interval=0.2)

    docker("kill", "--signal", "KILL", stack.container("worker"))
    killed = time.monotonic()
    stack.compose("start", "worker")
    wait_for(lambda: task_state(stack, task) == "SUCCESS", timeout=120, interval=0.5)
    took = time.monotonic() - killed

    print(f"\nworker killed mid-task: it ran to the end {took:.1f} s later (6 s of it running)")
    # Started twice (the run that was killed, then the one that finished), finished once.
    assert http("GET", f"{stack.url}/tasks/{task}")[1]["result"] == 2
    finished = metric(
        fetch_inside(stack.container("worker"), "http://127.0.0.1:9100/metrics"),
        "celery_tasks_total",
        task="tests.slow",
        state="SUCCESS",
    )
    assert finished == 1
    # The timeout, kombu's sweep (every 10 s), the task's 6 s, and the worker's start.
    assert took < VISIBILITY_TIMEOUT + 10 + 6 + 15


@contextmanager
def steady_load(url: str, path: str) -> Iterator[list[tuple[float, float, int | str]]]:
    """GET `url` + `path` from 2 threads on this machine, 20 ms apart, for the block:
    each request's start (epoch s), duration and status or error."""
    host, port = url.removeprefix("http://").split(":")
    client = subprocess.Popen(
        [sys.executable, str(LOAD_CLIENT), host, port, path, "2", "0.02"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    records: list[tuple[float, float, int | str]] = []
    try:
        wait_for(lambda: client.stderr.readline().startswith("load: started"), timeout=30)
        yield records
    finally:
        client.send_signal(signal.SIGTERM)
        output, _ = client.communicate(timeout=60)
        records += [tuple(record) for record in json.loads(output)]


def test_database_restarts_and_crashes_under_load_answer_503_never_500(stack: Stack) -> None:
    status, item = http("POST", f"{stack.url}/items", {"name": "under load"})
    assert status == 201, item
    with steady_load(stack.url, f"/items/{item['id']}") as records:
        time.sleep(2)
        stack.compose("restart", "db")
        wait_for(lambda: healthy(stack, "db"), timeout=90, interval=0.5)
        time.sleep(3)
        crash(stack, "db")
        back = time.time()
        time.sleep(10)

    outcomes: dict[int | str, int] = {}
    for _, _, outcome in records:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"\nPostgreSQL restarted, then killed and started, under load: {outcomes}")
    assert len(records) > 300
    assert set(outcomes) <= {200, 503}, outcomes
    # Once the database is healthy again, every request succeeds.
    assert [r for r in records if r[0] >= back and r[2] != 200] == []


def make(stack: Stack, *arguments: str) -> subprocess.CompletedProcess[str]:
    return execute(["make", *arguments], stack.project, stack.env, timeout=600)


def test_a_backup_restores_every_row_into_a_new_volume_and_never_over_data(stack: Stack) -> None:
    names = [f"row {number} ünïcode" for number in range(25)]
    rows = [http("POST", f"{stack.url}/items", {"name": name})[1] for name in names]
    everything = http("GET", f"{stack.url}/items?limit=100")[1]

    backup = make(stack, "backup")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (dump,) = sorted((stack.project / "backups").glob("*.dump"))

    # Into a database that holds data: refused, and nothing changed.
    refused = make(stack, "restore", f"FILE={dump.relative_to(stack.project)}")
    assert refused.returncode != 0
    assert "the database is not empty" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert http("GET", f"{stack.url}/items?limit=100")[1] == everything

    # The volume lost: restored into a new one, every row is back as it was.
    stack.compose("down", "--volumes")
    restored = make(stack, "restore", f"FILE={dump.relative_to(stack.project)}")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    stack.compose("up", "--detach", "--wait")
    assert http("GET", f"{stack.url}/items?limit=100")[1] == everything
    for row in rows:
        assert http("GET", f"{stack.url}/items/{row['id']}") == (200, row)
