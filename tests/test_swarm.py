"""deploy/swarm/stack.yaml on a real single-node swarm: several replicas migrate once, a
rolling update and a killed replica lose no request, and no secret is visible.

Needs a Docker engine (../shared/docker-lab/up, called by .ci/run); never skipped. The
swarm is started for this module and left as it was found.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dockerized import docker, secret_values_seen, wait_for
from observed import metric
from support import DEPLOYED, FASTAPI_MODEL, with_model
from swarm import (
    DeployedStack,
    local_registry,
    next_release,
    published,
    stack_on_a_swarm,
    steady_load,
    wait_converged,
)

REPLICAS = 3
# Alone on the engine (make test runs them after the rest), all on one worker.
pytestmark = [pytest.mark.swarm, pytest.mark.xdist_group("swarm")]

RUN_TASK = """
import json, time, urllib.request
def call(method, path, body=None):
    request = urllib.request.Request("http://app:8000" + path, method=method,
        data=json.dumps(body).encode() if body else None, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=10))
task = call("POST", "/tasks/add", {"x": 19, "y": 23})["task_id"]
for _ in range(60):
    state = call("GET", "/tasks/" + task)
    if state["status"] == "SUCCESS":
        break
    time.sleep(0.5)
print(json.dumps([call("GET", "/ready"), state]))
"""


# Run in an app task's container: a batch scored by the worker's task, through Redis.
SCORE = """
import json
from orders_service.scoring import score
print(json.dumps(score.delay([[0.5] * 8, [-1.0] * 8]).get(timeout=60)))
"""


def test_a_model_service_is_healthy_once_its_model_is_served_and_its_worker_scores(
    locked, tmp_path: Path, registry: str
) -> None:
    """The stack of a service with a model (and its worker): each app task passes its
    healthcheck only once its model is verified and loaded, the API and the worker's task
    answer with it, and a fetched model would be cached on a volume the service may write."""
    project = tmp_path / "service"
    shutil.copytree(locked(**FASTAPI_MODEL), project)
    with_model(project)
    image = f"pst-swarm-model-{uuid.uuid4().hex[:8]}"
    docker("build", "--tag", f"{image}:0.1.0", ".", cwd=project)
    try:
        reference = published(f"{image}:0.1.0", registry)
        with stack_on_a_swarm(project, reference, {"redis_password": secrets.token_hex(16)}, 2) as stack:
            wait_for(lambda: healthy_tasks(stack, "app") == 2, timeout=120)
            ready, predicted = json.loads(stack.client(READY_AND_PREDICT))
            assert ready == {"status": "ready", "checks": {"model": "ok", "redis": "ok"}}
            assert len(predicted["label"]) == 2
            app = stack.containers("app")[0]
            assert len(json.loads(docker("exec", app, "python", "-c", SCORE).stdout)["label"]) == 2
            cache = docker("exec", app, "sh", "-c", 'test -w "$MODEL_CACHE_DIR" && echo "$MODEL_CACHE_DIR"')
            assert cache.stdout.strip() == "/var/cache/model"
    finally:
        docker("image", "rm", "--force", f"{image}:0.1.0", f"{registry}/{image}:0.1.0", check=False)


READY_AND_PREDICT = """
import json, urllib.request
def call(method, path, body=None):
    request = urllib.request.Request("http://app:8000" + path, method=method,
        data=json.dumps(body).encode() if body else None, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=10))
print(json.dumps([call("GET", "/ready"), call("POST", "/predict", {"instances": [[0.5] * 8, [1.0] * 8]})]))
"""


def healthy_tasks(stack: DeployedStack, service: str) -> int:
    containers = stack.containers(service)
    if not containers:
        return 0
    states = docker("inspect", "--format", "{{.State.Health.Status}}", *containers).stdout.split()
    return states.count("healthy")


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return {"postgres_password": secrets.token_hex(16), "redis_password": secrets.token_hex(16)}


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    with local_registry() as address:
        yield address


@pytest.fixture(scope="module")
def stack(
    locked, tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str], registry: str
) -> Iterator[DeployedStack]:
    project = tmp_path_factory.mktemp("swarm") / "service"
    shutil.copytree(locked(**DEPLOYED), project)
    image = f"pst-swarm-{uuid.uuid4().hex[:8]}"
    docker("build", "--tag", f"{image}:0.1.0", ".", cwd=project)
    try:
        reference = published(f"{image}:0.1.0", registry)
        with stack_on_a_swarm(project, reference, passwords, REPLICAS, EDGE_AND_SCHEDULES) as stack:
            yield stack
    finally:
        tags = [
            f"{prefix}{image}:{version}" for prefix in ("", f"{registry}/") for version in ("0.1.0", "0.1.1")
        ]
        docker("image", "rm", "--force", *tags, check=False)


# No DOMAIN: the proxy's site is localhost (a certificate of its local CA), reached at the
# service's name on the stack's network. A backup every minute; the example periodic
# task every second.
HEARTBEAT_SECONDS = 1
EDGE_AND_SCHEDULES = {
    "BACKUP_SCHEDULE": "* * * * *",
    "BACKUP_KEEP": "2",
    "HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
}

# Run on the stack's network: what a client of https://localhost gets from the proxy,
# trusting its CA (argv[1]).
THROUGH_THE_PROXY = """
import http.client, json, ssl, sys, time
tls = ssl.create_default_context(cadata=sys.argv[1])
class Localhost(http.client.HTTPSConnection):
    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname="localhost")
# The certificate is issued once the proxy has started: a handshake fails until then.
for _ in range(60):
    try:
        Localhost("proxy", 443, context=tls, timeout=10).connect()
        break
    except (OSError, ssl.SSLError):
        time.sleep(0.5)
def get(connection, path):
    connection.request("GET", path, headers={"Host": "localhost"})
    response = connection.getresponse()
    response.read()
    return [response.status, {name.lower(): value for name, value in response.getheaders()}]
print(json.dumps({
    "https": get(Localhost("proxy", 443, context=tls, timeout=10), "/ready"),
    "metrics": get(Localhost("proxy", 443, context=tls, timeout=10), "/metrics"),
    "http": get(http.client.HTTPConnection("proxy", 80, timeout=10), "/ready"),
}))
"""


def heartbeats(stack: DeployedStack) -> float:
    """Runs of the example periodic task, summed over the worker tasks."""
    scraped = json.loads(stack.client(SCRAPE_EVERY_TASK, "worker", "9100"))
    return sum(
        metric(text, "celery_tasks_total", task="orders_service.heartbeat", state="SUCCESS")
        for text in scraped.values()
    )


def test_the_proxy_serves_https_one_scheduler_sends_each_task_and_backups_run(stack: DeployedStack) -> None:
    # As the user deploys it, only the proxy publishes ports, the node's own.
    users_stack = yaml.safe_load((stack.stack_file.parent / "stack.yaml").read_text())["services"]
    assert [name for name, service in users_stack.items() if "ports" in service] == ["proxy"]
    assert {port["mode"] for port in users_stack["proxy"]["ports"]} == {"host"}

    (proxy,) = stack.containers("proxy")
    ca = docker("exec", proxy, "cat", "/data/caddy/pki/authorities/local/root.crt").stdout
    answers = json.loads(stack.client(THROUGH_THE_PROXY, ca))
    status, headers = answers["https"]
    assert status == 200
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "server" not in headers
    assert answers["metrics"][0] == 404
    assert (answers["http"][0], answers["http"][1]["location"]) == (308, "https://localhost/ready")

    # One scheduler (replicas: 1, the old task stopped before a new one starts): each run
    # of the periodic task once, on both workers.
    assert users_stack["beat"]["deploy"]["replicas"] == 1
    assert users_stack["beat"]["deploy"]["update_config"]["order"] == "stop-first"
    window = 10 * HEARTBEAT_SECONDS
    before = heartbeats(stack)
    time.sleep(window)
    ran = heartbeats(stack) - before
    print(f"\nSwarm: the periodic task (every {HEARTBEAT_SECONDS} s) ran {ran:.0f} times in {window} s")
    assert 7 <= ran <= 13

    # A backup at the next minute, in the backups volume.
    wait_for(lambda: "backup: wrote" in stack.logs("backup"), timeout=90, interval=2)
    (backup,) = stack.containers("backup")
    listed = docker("exec", backup, "ls", "/backups").stdout.split()
    assert listed
    assert all(name.startswith("orders_service-") and name.endswith(".dump") for name in listed)


def test_replicas_starting_together_apply_the_migrations_once(stack: DeployedStack) -> None:
    logs = stack.logs("app")
    # Every replica ran `alembic upgrade head` (alembic prints this line each time) ...
    assert logs.count("Will assume transactional DDL") == REPLICAS, logs[-3000:]
    # ... and one of them applied the migration; no replica's process failed and was
    # restarted. (A container Docker failed to start never reached "started" and shows no
    # output: it ran none of the service's code, so it is the engine's failure, not the
    # replica's.)
    assert logs.count("Running upgrade  -> 0001") == 1, logs[-3000:]
    tasks = stack.tasks("app")
    ended = [task for task in tasks if task["Status"]["State"] != "running"]
    assert len(tasks) - len(ended) == REPLICAS, stack.describe(tasks)
    failed = [task for task in ended if stack.started(task)]
    assert not failed, stack.describe([*tasks, *stack.tasks("db"), *stack.tasks("redis")])


def test_the_stack_serves_and_runs_tasks_with_passwords_from_secret_files(stack: DeployedStack) -> None:
    ready, task = json.loads(stack.client(RUN_TASK))
    assert ready == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    assert task["status"] == "SUCCESS", task
    assert task["result"] == 42


SCRAPE_EVERY_TASK = """
import json, socket, sys, urllib.request
service, port = sys.argv[1], sys.argv[2]
addresses = sorted({info[4][0] for info in socket.getaddrinfo("tasks." + service, port)})
scraped = {}
for address in addresses:
    with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=10) as response:
        scraped[address] = response.read().decode()
print(json.dumps(scraped))
"""


def test_prometheus_finds_each_task_by_its_labels_and_scrapes_it(stack: DeployedStack) -> None:
    """What Prometheus's dockerswarm_sd_configs (role: tasks) does with the README's
    relabelling: every running task of a labelled service, at its address and the
    prometheus-port label's port."""
    services = yaml.safe_load(stack.stack_file.read_text())["services"]
    labelled = {
        name: service["deploy"]["labels"]
        for name, service in services.items()
        if "prometheus-job" in service["deploy"].get("labels", {})
    }
    assert labelled.keys() == {"app", "worker"}
    stack.client(RUN_TASK)  # a task has run: one worker has counted it

    def scrape_every_task(name: str) -> dict[str, str]:
        scraped = json.loads(stack.client(SCRAPE_EVERY_TASK, name, labelled[name]["prometheus-port"]))
        assert len(scraped) == stack.running_tasks(name), scraped.keys()
        return scraped

    # Docker's healthcheck has called each app task: each has counted requests.
    assert all(
        metric(text, "http_requests_total", route="/health") for text in scrape_every_task("app").values()
    )
    worker_counts = [
        metric(text, "celery_tasks_total", task="orders_service.add", state="SUCCESS")
        for text in scrape_every_task("worker").values()
    ]
    assert sum(worker_counts) >= 1, worker_counts


def test_no_secret_is_visible_in_inspect_the_image_or_the_stack_file(
    stack: DeployedStack, passwords: dict[str, str]
) -> None:
    values = list(passwords.values())
    services = [stack.service(name) for name in ("app", "worker", "db", "redis")]
    containers = [
        container for name in ("app", "worker", "db", "redis") for container in stack.containers(name)
    ]
    assert not secret_values_seen(
        values,
        ["service", "inspect", *services],
        ["inspect", *containers],
        ["image", "inspect", stack.image],
        ["history", "--no-trunc", stack.image],
    )
    # What the app sees is a file path, never the value.
    env = docker("inspect", "--format", "{{json .Config.Env}}", stack.containers("app")[0]).stdout
    assert "DATABASE_PASSWORD_FILE=/run/secrets/postgres_password" in env


def test_a_rolling_update_under_load_loses_no_request(stack: DeployedStack, registry: str) -> None:
    item = stack.create_item()
    # A new release, as the README deploys one: the same stack file with the digest CI
    # published for the next version.
    image = stack.image.partition("@")[0].removeprefix(f"{registry}/")
    release = published(next_release(f"{image}:0.1.0", "0.1.1"), registry)
    assert release != stack.image
    with steady_load(stack, f"/items/{item}") as report:
        started = time.monotonic()
        stack.deploy("--detach=false", APP_DIGEST=release.partition("@")[2])
        took = time.monotonic() - started
    print(f"\nswarm rolling update of {REPLICAS} replicas in {took:.0f} s: {report.summary()}")
    running = docker(
        "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", stack.service("app")
    ).stdout.strip()
    assert running == release
    assert len(report.records) > 500
    assert report.failures() == []
    wait_converged(stack, "app", REPLICAS)


def test_a_release_that_fails_its_healthcheck_is_rolled_back_under_load(stack: DeployedStack) -> None:
    before = docker("service", "inspect", "--format", "{{json .Spec}}", stack.service("app")).stdout
    with steady_load(stack, "/health") as report:
        # A release whose server cannot start: its tasks never become healthy.
        stack.deploy(WEB_CONCURRENCY="not-a-number")
        state = wait_for(
            lambda: (
                (
                    s := docker(
                        "service", "inspect", "--format", "{{.UpdateStatus.State}}", stack.service("app")
                    )
                )
                .stdout.strip()
                .startswith("rollback_completed")
                and s.stdout.strip()
            ),
            timeout=240,
            interval=2,
        )
    print(f"\nswarm failed release rolled back: {report.summary()}")
    assert state == "rollback_completed"
    after = docker("service", "inspect", "--format", "{{json .Spec}}", stack.service("app")).stdout
    assert after == before
    assert report.failures() == []
    wait_converged(stack, "app", REPLICAS)


def test_the_app_runs_read_only_with_tmp_in_memory_and_no_capabilities(stack: DeployedStack) -> None:
    for container in stack.containers("app"):
        host = json.loads(docker("inspect", "--format", "{{json .HostConfig}}", container).stdout)
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        mounts = json.loads(docker("inspect", "--format", "{{json .Mounts}}", container).stdout)
        assert {"Type": "tmpfs", "Destination": "/tmp"}.items() <= next(
            m for m in mounts if m["Destination"] == "/tmp"
        ).items()


def test_killing_a_replica_under_load_fails_only_its_requests_in_flight(stack: DeployedStack) -> None:
    probe_interval = 5  # the app's healthcheck interval in stack.yaml
    with steady_load(stack, "/health") as report:
        time.sleep(2)
        killed_at = time.time()
        docker("kill", stack.containers("app")[0])
        time.sleep(probe_interval * 3)
    late = report.failures(since=killed_at + probe_interval)
    early = report.failures()
    print(
        f"\nswarm replica killed: {report.summary()}; "
        f"last failure {max((r[0] - killed_at for r in early), default=0) * 1000:.0f} ms after the kill"
    )
    assert late == []
    assert all(record[0] >= killed_at - 1 for record in early), early
    wait_converged(stack, "app", REPLICAS)
