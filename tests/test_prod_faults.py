"""The production compose stack as clients reach it, through its HTTPS proxy, and under the
faults an operator meets: Redis killed with queued tasks, PostgreSQL restarted and killed
under load, a backup that fails, the database lost and restored from a backup. Also its
schedules: backups every minute, and a periodic task with a second scheduler started by
hand. Needs a Docker engine (../shared/docker-lab/up); never skipped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dockerized import EDGE_CAS, PROD_FILES, Stack, docker, http, running, trust_the_proxy, wait_for
from observed import fetch_inside, log_lines, metric
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
HEARTBEAT_SECONDS = 1
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
    environment = {
        **secrets_for(ANSWERS),
        "TASK_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        # Every request logged by the app too, to find its id there.
        "ACCESS_LOG": "true",
        # A backup every minute, two kept; the example periodic task every second.
        "BACKUP_SCHEDULE": "* * * * *",
        "BACKUP_KEEP": "2",
        "HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
    }
    production = Stack(project, ANSWERS["python_version"], files=files, env=environment)
    with running(production) as started:
        yield started


def health(stack: Stack, service: str) -> str:
    return docker("inspect", "--format", "{{.State.Health.Status}}", stack.container(service)).stdout.strip()


def healthy(stack: Stack, service: str) -> bool:
    return health(stack, service) == "healthy"


def start(stack: Stack, service: str) -> None:
    stack.compose("start", service)
    wait_for(lambda: healthy(stack, service), timeout=90, interval=0.5)


def crash(stack: Stack, service: str) -> None:
    """SIGKILL the service's process, as the kernel's OOM killer would, and start it again."""
    docker("kill", "--signal", "KILL", stack.container(service))
    start(stack, service)


def task_state(stack: Stack, task_id: str) -> str:
    return http("GET", f"{stack.edge}/tasks/{task_id}")[1]["status"]


def curl(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", *arguments], capture_output=True, text=True, timeout=60
    )


def response_headers(stack: Stack, *arguments: str) -> tuple[int, dict[str, str]]:
    """The status and headers (lowercased names) curl got, trusting the proxy's CA as the
    README says (`make prod-ca`, then `curl --cacert proxy-ca.crt`)."""
    answer = curl("--cacert", str(stack.edge_ca), "--output", "/dev/null", "--dump-header", "-", *arguments)
    assert answer.returncode == 0, answer.stderr
    head = answer.stdout.strip().splitlines()
    headers = dict(line.split(":", 1) for line in head[1:] if ":" in line)
    return int(head[0].split()[1]), {name.strip().lower(): value.strip() for name, value in headers.items()}


def published_ports(stack: Stack) -> dict[str, list[str]]:
    """Each service's ports published on the host."""
    ports = {}
    for service in stack.compose("ps", "--services").stdout.split():
        bindings = json.loads(
            docker("inspect", "--format", "{{json .NetworkSettings.Ports}}", stack.container(service)).stdout
        )
        ports[service] = sorted(port for port, hosts in (bindings or {}).items() if hosts)
    return ports


@contextmanager
def tls_to_the_edge(stack: Stack, timeout: float) -> Iterator[ssl.SSLSocket]:
    """A TLS connection to the proxy, as a client of https://localhost trusting its CA."""
    context = ssl.create_default_context(cafile=str(stack.edge_ca))
    with (
        socket.create_connection(("localhost", stack.https_port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        yield tls


def served_certificate(stack: Stack) -> bytes:
    with tls_to_the_edge(stack, timeout=10) as tls:
        return tls.getpeercert(binary_form=True)


def test_the_edge_serves_https_alone_with_its_headers_and_keeps_the_app_inside(stack: Stack) -> None:
    # Only the proxy publishes ports: 80 and 443 (and 443/udp, HTTP/3).
    ports = published_ports(stack)
    assert ports.pop("proxy") == ["443/tcp", "443/udp", "80/tcp"]
    assert all(published == [] for published in ports.values()), ports

    status, headers = response_headers(stack, f"{stack.edge}/ready")
    assert status == 200
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "server" not in headers, headers
    # An answer of the proxy's own has no Server header either.
    assert "server" not in response_headers(stack, f"{stack.edge}/metrics")[1]

    # Plain HTTP: a permanent redirect to the same path over HTTPS, nothing served.
    status, headers = response_headers(stack, f"http://localhost:{stack.http_port}/items?limit=1")
    assert (status, headers["location"]) == (308, "https://localhost/items?limit=1")
    assert "server" not in headers

    # /metrics is not served to the internet; Prometheus reaches it on the stack's network.
    assert response_headers(stack, f"{stack.edge}/metrics")[0] == 404
    assert response_headers(stack, f"{stack.edge}/metrics/")[0] == 404
    network = next(
        iter(
            json.loads(
                docker(
                    "inspect", "--format", "{{json .NetworkSettings.Networks}}", stack.container("app")
                ).stdout
            )
        )
    )
    inside = docker(
        "run",
        "--rm",
        "--network",
        network,
        "--entrypoint",
        "python",
        stack.name,
        "-c",
        "import urllib.request; print(urllib.request.urlopen('http://app:8000/metrics', timeout=5).status)",
    )
    assert inside.stdout.strip() == "200"

    # A body over the limit (10 MiB by default): 413, declared or streamed, never the app's.
    big = stack.project / "big.json"
    big.write_bytes(b"[" + b"0," * (5 * 2**20) + b"0]")
    for streamed in ([], ["--header", "Transfer-Encoding: chunked"]):
        # The proxy answers before the upload ends and drops the rest: curl may then report
        # the connection or the HTTP/2 stream cut (18, 55, 56, 92) after it has the status.
        answer = curl(
            *("--cacert", str(stack.edge_ca), "--output", "/dev/null", "--write-out", "%{http_code}"),
            *("--header", "Content-Type: application/json", *streamed, "--data-binary", f"@{big}"),
            f"{stack.edge}/items",
        )
        assert answer.returncode in (0, 18, 55, 56, 92), answer.stderr
        assert answer.stdout == "413", (streamed, answer.stdout, answer.stderr)
    big.unlink()


def test_the_request_id_is_the_same_in_the_proxys_log_and_the_apps(stack: Stack) -> None:
    sent = f"edge-{uuid.uuid4().hex[:12]}"
    status, headers = response_headers(
        stack, "--header", f"X-Request-ID: {sent}", f"{stack.edge}/openapi.json"
    )
    assert (status, headers["x-request-id"]) == (200, sent)
    # Without one, the proxy makes it, and the app keeps it.
    status, headers = response_headers(stack, f"{stack.edge}/openapi.json?unnamed")
    made = headers["x-request-id"]
    assert status == 200
    assert made != sent

    def lines_of(service: str) -> list[dict]:
        return log_lines(stack.container(service))

    for request_id in (sent, made):
        proxy = wait_for(
            lambda request_id=request_id: [
                line
                for line in lines_of("proxy")
                if line.get("resp_headers", {}).get("X-Request-Id") == [request_id]
            ],
            timeout=10,
        )
        assert [line["status"] for line in proxy] == [200]
        app = [line for line in lines_of("app") if line.get("request_id") == request_id]
        assert app, request_id
    proxy_line = next(
        line for line in lines_of("proxy") if line.get("resp_headers", {}).get("X-Request-Id") == [sent]
    )
    assert proxy_line["request"]["headers"]["X-Request-Id"] == [sent]


def test_a_slow_client_is_cut_off_and_the_certificate_outlives_a_restart(stack: Stack) -> None:
    # Headers never finished: the proxy closes the connection after its 10 s.
    with tls_to_the_edge(stack, timeout=30) as tls:
        started = time.monotonic()
        tls.sendall(b"GET /ready HTTP/1.1\r\nHost: localhost\r\n")
        answer = b""
        try:
            while chunk := tls.recv(65536):
                answer += chunk
        except (ssl.SSLError, ConnectionResetError):
            pass
        held = time.monotonic() - started
    assert b" 200 " not in answer
    assert 9 <= held < 20, f"a client that never ends its headers was held {held:.1f} s"

    certificate = served_certificate(stack)
    stack.compose("restart", "proxy")
    assert wait_for(lambda: served_certificate(stack), timeout=30) == certificate
    assert http("GET", f"{stack.edge}/ready")[0] == 200
    logs = stack.compose("logs", "--no-color", "proxy").stdout
    assert logs.count("certificate obtained successfully") == 1


def output(container: str) -> str:
    logs = docker("logs", container)
    return logs.stdout + logs.stderr


def heartbeats(stack: Stack) -> float:
    """Runs of the example periodic task the worker finished."""
    exposition = fetch_inside(stack.container("worker"), "http://127.0.0.1:9100/metrics")
    return metric(exposition, "celery_tasks_total", task="orders_service.heartbeat", state="SUCCESS")


def heartbeats_in(stack: Stack, seconds: float) -> float:
    before = heartbeats(stack)
    time.sleep(seconds)
    return heartbeats(stack) - before


def test_the_periodic_task_runs_on_schedule_and_a_second_scheduler_only_waits(stack: Stack) -> None:
    window = 10 * HEARTBEAT_SECONDS
    alone = heartbeats_in(stack, window)
    print(f"\nheartbeat every {HEARTBEAT_SECONDS} s: {alone:.0f} runs in {window} s with one scheduler")
    assert 7 <= alone <= 13

    # A second scheduler started by hand (the README's rule is one): it waits for the lock
    # and sends nothing, so each run still happens once.
    first = stack.container("beat")
    stack.compose("up", "--detach", "--no-recreate", "--scale", "beat=2", "beat")
    (second,) = set(stack.compose("ps", "--quiet", "beat").stdout.split()) - {first}
    both = heartbeats_in(stack, window)
    print(f"with a second scheduler started: {both:.0f} runs in {window} s")
    assert 7 <= both <= 13
    assert "beat: Acquired lock" not in output(second)

    # The first one stopped, the second takes the lock (released at once) and goes on.
    docker("stop", first)
    wait_for(lambda: "beat: Acquired lock" in output(second), timeout=30)
    after = heartbeats_in(stack, window)
    print(f"after the first stopped: {after:.0f} runs in {window} s")
    assert 7 <= after <= 13
    # Back to one: the second stops (releasing the lock), the first starts and takes it.
    docker("stop", second)
    docker("rm", second)
    docker("start", first)
    wait_for(lambda: output(first).count("beat: Acquired lock") == 2, timeout=30)


@pytest.fixture(scope="module")
def rows_before_backups(stack: Stack) -> list[dict]:
    """Rows written before the scheduled backups are checked: the newest dump holds them."""
    rows = []
    for number in range(10):
        status, body = http("POST", f"{stack.edge}/items", {"name": f"scheduled {number} ünïcode"})
        assert status == 201, body
        rows.append(body)
    return rows


def away_from_the_scheduled_minute() -> None:
    """Wait until the seconds 5 to 40 of a minute: the scheduled backup (at :00) can then
    neither remove the failure it would heal nor add a dump while a check reads them."""
    while not 5 <= time.gmtime().tm_sec <= 40:
        time.sleep(0.5)


def test_a_failed_backup_is_an_error_line_and_an_unhealthy_service_and_removes_nothing(
    stack: Stack, rows_before_backups: list[dict]
) -> None:
    scheduled = stack.project / "backups" / "scheduled"
    # The first minute's backup, then one that fails (a host that does not resolve).
    wait_for(lambda: backups_written(stack), timeout=70, interval=1)
    away_from_the_scheduled_minute()
    kept = sorted(scheduled.glob("*.dump"))
    assert kept
    failed = docker(
        "exec",
        "--env",
        "PGHOST=nowhere.invalid",
        stack.container("backup"),
        "sh",
        "/usr/local/bin/scheduled-backups.sh",
        "--once",
        check=False,
        timeout=60,
    )
    assert failed.returncode == 1
    error = json.loads(failed.stdout.splitlines()[-1])
    assert error["level"] == "ERROR"
    assert error["message"].startswith("backup failed, no dump was removed: pg_dump:"), error
    wait_for(lambda: health(stack, "backup") == "unhealthy", timeout=20, interval=1)
    assert sorted(scheduled.glob("*.dump")) == kept


def test_tasks_queued_while_redis_crashes_all_run_exactly_once(stack: Stack) -> None:
    stack.compose("stop", "worker")
    queued = []
    for number in range(10):
        status, body = http("POST", f"{stack.edge}/tasks/add", {"x": number, "y": 1})
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
# For the worker's names that are not the stack's own (as Redis's is not once it stopped),
# a DNS server that never answers (TEST-NET-1): each look-up takes 10 s.
SLOW_DNS = {"services": {"worker": {"dns": ["192.0.2.1"]}}}


def test_a_worker_is_ready_only_while_it_consumes(stack: Stack) -> None:
    (stack.project / "slow_start.py").write_text(SLOW_START)
    (stack.project / "slow-dns.yaml").write_text(json.dumps(SLOW_DNS))
    worker = f"{stack.name}-slow-start"
    mount = f"{stack.project / 'slow_start.py'}:/app/src/slow_start.py:ro"
    command = ("/app/scripts/start-worker.sh", "--include", "slow_start")
    one_off = ("run", "--detach", "--no-deps", "--name", worker, "--volume", mount, "worker", *command)
    stack.compose("-f", "slow-dns.yaml", *one_off)
    try:

        def ready() -> bool:
            return docker("exec", worker, *CONSUMING, check=False).returncode == 0

        # Not while its consumer starts: only once it consumes, which it logs as "ready"
        # (the log line is written first; 1 s for Docker to copy it, not the 5 s of the step).
        wait_for(ready, timeout=90, interval=0.1)
        wait_for(lambda: " ready." in docker("logs", worker).stdout, timeout=1, interval=0.1)
        # Not from the moment it says the broker is lost, though Celery then cleans up after
        # the connection for a while: with Redis gone before the worker noticed (paused,
        # as a busy worker is), each command of that clean-up waits on the DNS.
        docker("pause", worker)
        try:
            stack.compose("stop", "redis")
        finally:
            docker("unpause", worker)
        try:
            wait_for(lambda: "Connection to broker lost" in docker("logs", worker).stdout, timeout=60)
            assert not ready()
        finally:
            start(stack, "redis")
        # And again once Redis is back.
        wait_for(ready, timeout=90, interval=0.5)
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
    wait_for(lambda: http("GET", f"{stack.edge}/ready")[0] == 200, timeout=60, interval=0.2)
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
    assert http("GET", f"{stack.edge}/tasks/{task}")[1]["result"] == 2
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
    host, port = url.removeprefix("https://").split(":")
    client = subprocess.Popen(
        [sys.executable, str(LOAD_CLIENT), host, port, path, "2", "0.02", str(EDGE_CAS[f"{host}:{port}"])],
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
    status, item = http("POST", f"{stack.edge}/items", {"name": "under load"})
    assert status == 201, item
    with steady_load(stack.edge, f"/items/{item['id']}") as records:
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


def backups_written(stack: Stack) -> list[dict]:
    """The backup service's log lines for each dump it wrote."""
    return [
        line for line in log_lines(stack.container("backup")) if line["message"].startswith("backup: wrote")
    ]


def psql(stack: Stack, database: str, query: str) -> str:
    return stack.compose(
        "exec",
        "-T",
        "db",
        "psql",
        "--username",
        "orders_service",
        "--dbname",
        database,
        "--tuples-only",
        "--no-align",
        "--field-separator",
        "|",
        "--command",
        query,
    ).stdout


def test_scheduled_backups_ran_on_time_kept_the_newest_and_the_newest_restores_every_row(
    stack: Stack, rows_before_backups: list[dict]
) -> None:
    """BACKUP_SCHEDULE="* * * * *" and BACKUP_KEEP=2 (the fixture's): the stack has run for
    minutes by now, through the faults above and the failed backup."""
    scheduled = stack.project / "backups" / "scheduled"
    # A backup succeeded since the failed one: healthy again.
    wait_for(lambda: health(stack, "backup") == "healthy", timeout=70, interval=1)
    wait_for(lambda: len(backups_written(stack)) >= 3, timeout=130, interval=2)
    away_from_the_scheduled_minute()
    written = backups_written(stack)
    print("\nscheduled backups written at: " + ", ".join(line["time"] for line in written))
    dumps = sorted(path.name for path in scheduled.glob("*.dump"))
    assert dumps == sorted(line["message"].split()[2] for line in written[-2:])

    # The newest restores every row it was taken with: into a new database of the server.
    psql(stack, "orders_service", "CREATE DATABASE restored")
    try:
        with (scheduled / dumps[-1]).open("rb") as dump:
            restored = subprocess.run(
                [
                    *("docker", "exec", "-i", stack.container("db"), "pg_restore"),
                    *(
                        "--username",
                        "orders_service",
                        "--dbname",
                        "restored",
                        "--no-owner",
                        "--exit-on-error",
                    ),
                ],
                stdin=dump,
                capture_output=True,
                timeout=120,
                check=False,
            )
        assert restored.returncode == 0, restored.stderr
        rows = psql(stack, "restored", "SELECT id, name FROM items ORDER BY id").splitlines()
    finally:
        psql(stack, "orders_service", "DROP DATABASE IF EXISTS restored")
    # Rows are only ever added here: the dump holds every row up to its last, as it was.
    now = psql(stack, "orders_service", "SELECT id, name FROM items ORDER BY id").splitlines()
    assert rows == now[: len(rows)]
    assert {f"{row['id']}|{row['name']}" for row in rows_before_backups} <= set(rows)


def test_a_backup_restores_every_row_into_a_new_volume_and_never_over_data(stack: Stack) -> None:
    names = [f"row {number} ünïcode" for number in range(25)]
    rows = [http("POST", f"{stack.edge}/items", {"name": name})[1] for name in names]
    everything = http("GET", f"{stack.edge}/items?limit=100")[1]

    backup = make(stack, "backup")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (dump,) = sorted((stack.project / "backups").glob("*.dump"))

    # Into a database that holds data: refused, and nothing changed.
    refused = make(stack, "restore", f"FILE={dump.relative_to(stack.project)}")
    assert refused.returncode != 0
    assert "the database is not empty" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert http("GET", f"{stack.edge}/items?limit=100")[1] == everything

    # The volume lost: restored into a new one, every row is back as it was.
    stack.compose("down", "--volumes")
    restored = make(stack, "restore", f"FILE={dump.relative_to(stack.project)}")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    stack.compose("up", "--detach", "--wait")
    # The proxy's volume went with the rest: a new local CA.
    trust_the_proxy(stack)
    assert http("GET", f"{stack.edge}/items?limit=100")[1] == everything
    for row in rows:
        assert http("GET", f"{stack.edge}/items/{row['id']}") == (200, row)
