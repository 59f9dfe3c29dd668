"""The generated service in containers: images built, stacks brought up and exercised.

Needs a Docker engine (here: ../shared/docker-lab/up, called by .ci/run). Without one
these tests fail; they are never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from dockerized import (
    PROD_FILES,
    Stack,
    app_port_published,
    docker,
    free_port,
    http,
    running,
    secret_values_seen,
    wait_for,
)
from observed import (
    CLIENT,
    CONSUMER,
    GENERATED_ID,
    PRODUCER,
    SERVER,
    ExportedSpan,
    counts_by_process,
    exported_spans,
    fetch_inside,
    get_concurrently,
    get_with_id,
    log_lines,
    metric,
    raw_get,
    sink_compose_file,
)
from support import (
    DEFAULT_PYTHON,
    FASTAPI_EVERY_SERVICE_314,
    FLASK_EVERY_SERVICE_311,
    TEMPLATE_ROOT,
    answer_id,
    execute,
)
from test_locks import group

CONTAINERIZED = [
    # The defaults (FastAPI, PostgreSQL, no worker, pip-tools).
    {},
    FLASK_EVERY_SERVICE_311,
    {"framework": "fastapi", "database": "none", "worker": "celery", "lock_tool": "uv"},
    # The newest version offered, every backing service: built on python:3.14-slim.
    FASTAPI_EVERY_SERVICE_314,
]
PARAMS = [
    pytest.param(
        answers,
        id=answer_id(answers) or "defaults",
        marks=pytest.mark.xdist_group(group(answers) if answers else "locked-defaults"),
    )
    for answers in CONTAINERIZED
]


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> None:
    completed = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, (
        "no Docker engine: run ../shared/docker-lab/up first\n" + completed.stderr
    )


def project_copy(locked, tmp_path: Path, answers: dict[str, str]) -> Path:
    project = tmp_path / "service"
    shutil.copytree(locked(**answers), project)
    return project


def target_python(answers: dict[str, str]) -> str:
    return answers.get("python_version", DEFAULT_PYTHON)


def secrets_for(answers: dict[str, str]) -> dict[str, str]:
    secrets = {}
    if answers.get("database", "postgresql") == "postgresql":
        secrets["POSTGRES_PASSWORD"] = f"pg-{uuid.uuid4().hex}"
    if answers.get("worker", "none") == "celery":
        secrets["REDIS_PASSWORD"] = f"redis-{uuid.uuid4().hex}"
    return secrets


@pytest.mark.parametrize("answers", PARAMS)
def test_prod_image_is_lean_non_root_and_complete(locked, tmp_path: Path, answers: dict[str, str]) -> None:
    project = project_copy(locked, tmp_path, answers)
    # What must never reach an image: local secrets and the repository.
    (project / ".env").write_text("SECRET=do-not-ship\n")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    image = f"pst-prod-{uuid.uuid4().hex[:10]}"
    docker(
        "build", "--build-arg", f"PYTHON_VERSION={target_python(answers)}", "--tag", image, ".", cwd=project
    )
    try:

        def inside(script: str, user: str = "") -> str:
            args = [
                "run",
                "--rm",
                "--entrypoint",
                "bash",
                *(["--user", user] if user else []),
                image,
                "-c",
                script,
            ]
            return docker(*args).stdout.strip()

        assert inside("id -u") != "0"
        assert inside("id -un") == "app"
        assert inside("command -v gcc cc g++ make || echo none") == "none"
        listing = inside("ls -A /app").split()
        assert ".env" not in listing
        assert ".git" not in listing
        assert "tests" not in listing
        assert inside("test -e /root/.cache/pip && echo cached || echo clean", user="root") == "clean"
        assert "No broken requirements found" in inside("pip --python /opt/venv/bin/python check")
        # The app's venv holds prod.txt alone: no test tool, and no pip.
        find_dev_tools = (
            "import importlib.util as u; "
            "print([m for m in ('pytest', 'pre_commit', 'pip') if u.find_spec(m)])"
        )
        assert inside(f'python -c "{find_dev_tools}"') == "[]"
        # The CPUs the server sizes itself by are the container's limit, not the host's cores.
        count = "from orders_service.cpus import available_cpus; print(available_cpus())"
        host = len(os.sched_getaffinity(0))
        for limit, cpus in [((), host), (("--cpus=1",), 1), (("--cpus=1.5",), 2), (("--cpuset-cpus=0",), 1)]:
            args = ["run", "--rm", *limit, "--entrypoint", "python", image, "-c", count]
            assert docker(*args).stdout.strip() == str(cpus), limit
        config = docker("image", "inspect", image, "--format", "{{json .Config}}").stdout
        assert "PYTHONDONTWRITEBYTECODE=1" in config
        assert "PYTHONUNBUFFERED=1" in config
        assert '"Healthcheck"' in config
        assert "org.opencontainers.image.title" in config
    finally:
        docker("image", "rm", "--force", image, check=False)


@pytest.mark.parametrize("answers", PARAMS)
def test_prod_stack_serves_migrates_queues_and_stops_gracefully(
    locked, tmp_path: Path, answers: dict[str, str]
) -> None:
    project = project_copy(locked, tmp_path, answers)
    with_database = answers.get("database", "postgresql") == "postgresql"
    with_worker = answers.get("worker") == "celery"
    files = (*PROD_FILES, *app_port_published(project))
    if answers.get("tracing"):
        received = tmp_path / "spans"
        services = ["app", "worker"] if with_worker else ["app"]
        files = (*files, "-f", str(sink_compose_file(project, received, services)))
    secrets = secrets_for(answers)
    # The access log is off by default; on here, to read each request's line.
    stack = Stack(project, target_python(answers), files=files, env={**secrets, "ACCESS_LOG": "true"})
    with running(stack):
        # Clients reach it through the proxy; the rest asks the app itself.
        assert http("GET", f"{stack.edge}/health")[0] == 200
        assert http("GET", f"{stack.url}/health")[0] == 200
        status, body = http("GET", f"{stack.url}/ready")
        assert status == 200, body
        app = stack.container("app")
        assert docker("inspect", app, "--format", "{{.State.Health.Status}}").stdout.strip() == "healthy"
        config = docker(
            "inspect", app, "--format", "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}"
        ).stdout
        assert config.split()[0] == "true"
        assert "ALL" in config

        if with_database:
            current = stack.compose("exec", "-T", "app", "alembic", "current").stdout
            assert "(head)" in current
            status, item = http("POST", f"{stack.url}/items", {"name": "from-the-prod-stack"})
            assert status == 201, item
            assert http("GET", f"{stack.url}/items/{item['id']}") == (200, item)
            assert_bad_input_is_refused_and_documented(stack.url)

        if with_worker:
            queued_by = f"enqueuer-{uuid.uuid4().hex[:8]}"
            status, queued = http(
                "POST", f"{stack.url}/tasks/add", {"x": 19, "y": 23}, headers={"X-Request-ID": queued_by}
            )
            assert status == 202
            done = wait_for(
                lambda: (
                    (r := http("GET", f"{stack.url}/tasks/{queued['task_id']}")[1])["status"] == "SUCCESS"
                    and r
                ),
                timeout=30,
            )
            assert done["result"] == 42
            # The task's lines in the worker's log carry the id of the request that enqueued it.
            worker = stack.container("worker")
            task_lines = [line for line in log_lines(worker) if queued["task_id"] in line["message"]]
            assert task_lines
            assert any(line["request_id"] == queued_by for line in task_lines), task_lines
            tasks = fetch_inside(worker, "http://127.0.0.1:9100/metrics")
            assert metric(tasks, "celery_tasks_total", task="orders_service.add", state="SUCCESS") >= 1
            assert metric(tasks, "celery_task_duration_seconds_count", task="orders_service.add") >= 1

        assert_requests_are_logged_as_json_with_their_id(stack.url, app)
        assert_metrics_add_up_over_the_server_processes(stack.url, app, with_database)
        if with_database:
            assert_a_request_that_raises_is_one_record_with_its_stack(stack, app)
        if answers.get("tracing"):
            assert_one_trace_spans_request_database_and_task(received, app, with_worker)

        assert_no_password_is_seen(stack, secrets)

        # Nothing writes to the read-only root filesystem (gunicorn's control socket once did).
        logs = stack.compose("logs", "--no-color", "app").stdout
        assert "Read-only file system" not in logs

        started = time.monotonic()
        docker("stop", app)
        stopped_in = time.monotonic() - started
        assert stopped_in < 5, f"docker stop took {stopped_in:.1f} s: SIGTERM does not reach the server"
        assert docker("inspect", app, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"


def assert_no_password_is_seen(stack: Stack, secrets: dict[str, str]) -> None:
    """The passwords reach the containers as files: no container's configuration, process
    command line, image layer or log line holds one, and the app names the files."""
    passwords = list(secrets.values())
    containers = [
        stack.container(service) for service in stack.compose("config", "--services").stdout.split()
    ]
    image = docker("inspect", "--format", "{{.Image}}", stack.container("app")).stdout.strip()
    assert not secret_values_seen(
        passwords,
        ["inspect", *containers],
        *(["top", container, "-eo", "pid,args"] for container in containers),
        ["image", "inspect", image],
        ["history", "--no-trunc", image],
    )
    logs = stack.compose("logs", "--no-color").stdout
    assert not [password[:6] for password in passwords if password in logs]
    environment = docker("inspect", "--format", "{{json .Config.Env}}", stack.container("app")).stdout
    files = {
        "POSTGRES_PASSWORD": "DATABASE_PASSWORD_FILE=/run/secrets/postgres_password",
        "REDIS_PASSWORD": "REDIS_PASSWORD_FILE=/run/secrets/redis_password",
    }
    assert [files[name] for name in secrets if files[name] not in environment] == []


def assert_requests_are_logged_as_json_with_their_id(url: str, app: str) -> None:
    """Every line the app wrote (server, app, Alembic) is a JSON object; a request's access
    line carries its id; a malformed id is replaced and never written."""
    sent = f"client-{uuid.uuid4().hex[:12]}"
    assert get_with_id(f"{url}/openapi.json", sent) == (200, sent)
    injected = f"INJECTED-{uuid.uuid4().hex[:8]}"
    huge = "x" * 10_000
    malformed = {
        "a folded line (an injected log line)": [b"X-Request-ID: ok", f" {injected}".encode()],
        "10 kB": [f"X-Request-ID: {huge}".encode()],
        "non-ASCII": ["X-Request-ID: café".encode()],
    }
    for case, header_lines in malformed.items():
        status, headers = raw_get(url, "/openapi.json", header_lines)
        # A server may refuse the request itself (400); answered, it has an id of its own.
        if status != 400:
            assert status == 200, case
            assert GENERATED_ID.fullmatch(headers["x-request-id"]), (case, headers)

    lines = log_lines(app)
    assert {line["logger"] for line in lines} >= {"orders_service.access"}
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line
        assert line["time"].endswith("+00:00"), line
    [access] = [line for line in lines if line.get("request_id") == sent]
    assert (access["route"], access["status"], access["method"]) == ("/openapi.json", 200, "GET")
    written = json.dumps(lines)
    assert injected not in written
    assert huge not in written
    # Probes (Docker's, every 10 s) and scrapes stay out of the access log.
    assert not [line for line in lines if line.get("route") in ("/health", "/ready", "/metrics")]


def assert_metrics_add_up_over_the_server_processes(url: str, app: str, with_database: bool) -> None:
    """N requests, shared by the server's processes, are N in /metrics, whichever process
    answers the scrape."""
    route = "/openapi.json"
    before = metric(http_text(f"{url}/metrics"), "http_requests_total", route=route, status="200")
    by_process_before = counts_by_process(app, route)
    get_concurrently(f"{url}{route}", 60)

    # A request is counted once its response is sent, so the client can see the last
    # response a moment before it is counted: the count is read once it got there (and
    # must not go past it).
    def counted() -> str | None:
        exposition = http_text(f"{url}/metrics")
        total = metric(exposition, "http_requests_total", route=route, status="200")
        return exposition if total >= before + 60 else None

    exposition = wait_for(counted, timeout=10, interval=0.2)
    assert metric(exposition, "http_requests_total", route=route, status="200") == before + 60
    by_process = counts_by_process(app, route)
    served = [count - by_process_before.get(name, 0.0) for name, count in by_process.items()]
    assert sum(served) == 60
    assert len([count for count in served if count > 0]) >= 2, f"one process served all: {served}"
    assert metric(exposition, "http_request_duration_seconds_count", route=route) >= 60
    assert "http_requests_in_progress" in exposition
    if with_database:
        # WEB_CONCURRENCY (2 here) processes, THREADS (4) connections each.
        assert metric(exposition, "db_pool_connections") == 8
        assert metric(exposition, "db_pool_connections_in_use") == 0


def assert_a_request_that_raises_is_one_record_with_its_stack(stack: Stack, app: str) -> None:
    """A schema the code does not expect (the table renamed) makes GET /items/{id} raise:
    a 500 with the request's id, and one ERROR record with the whole stack."""
    sql = "ALTER TABLE items RENAME TO items_elsewhere"
    psql = ("exec", "-T", "db", "psql", "-U", "orders_service", "-d", "orders_service", "-c")
    stack.compose(*psql, sql)
    try:
        assert get_with_id(f"{stack.url}/items/1", "raises-1") == (500, "raises-1")
    finally:
        stack.compose(*psql, "ALTER TABLE items_elsewhere RENAME TO items")
    # The only error the app logged: the server did not log it again, without the id.
    errors = [line for line in log_lines(app) if line["level"] in ("ERROR", "CRITICAL")]
    assert len(errors) == 1, errors
    assert errors[0]["request_id"] == "raises-1"
    assert "Traceback (most recent call last)" in errors[0]["exc_info"]
    assert "UndefinedTable" in errors[0]["exc_info"]


def assert_one_trace_spans_request_database_and_task(received: Path, app: str, with_worker: bool) -> None:
    """POST /items is a server span whose children are its queries; POST /tasks/add is a
    server span, the enqueue its child, and the task's run in the worker that one's child.
    The request's log lines carry the ids of its trace."""

    def spans() -> list[ExportedSpan]:
        return list(exported_spans(received))

    def has_trace_of(name: str) -> bool:
        return any(span.name == name and span.kind == SERVER for span in spans())

    wait_for(lambda: has_trace_of("POST /items"), timeout=30)
    everything = spans()
    # The request that created the item: its access line names its trace.
    access = log_lines(app)
    [created] = [line for line in access if line.get("route") == "/items" and line.get("status") == 201]
    [create] = [span for span in everything if span.trace_id == created["trace_id"] and span.kind == SERVER]
    assert create.name == "POST /items"
    assert created["span_id"] == create.span_id  # logged inside the request's span
    queries = [span for span in everything if span.parent_id == create.span_id and span.kind == CLIENT]
    assert "INSERT" in [span.name for span in queries]
    assert {span.service for span in everything} == {"orders-service"}
    assert not [span for span in everything if "/health" in span.name or "/metrics" in span.name]
    if not with_worker:
        return

    def task_run() -> ExportedSpan | None:
        runs = [span for span in spans() if span.name == "run/orders_service.add" and span.kind == CONSUMER]
        return runs[0] if runs else None

    run = wait_for(task_run, timeout=30)
    by_id = {span.span_id: span for span in spans()}
    enqueue = by_id[run.parent_id]
    request = by_id[enqueue.parent_id]
    assert (enqueue.name, enqueue.kind) == ("apply_async/orders_service.add", PRODUCER)
    assert (request.name, request.kind) == ("POST /tasks/add", SERVER)
    assert run.trace_id == enqueue.trace_id == request.trace_id


def http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def assert_bad_input_is_refused_and_documented(url: str) -> None:
    """What PostgreSQL would refuse is refused first (422, never 500), errors are JSON, and
    the OpenAPI document lists every status the API answers."""
    for path in ("/items?limit=-7272", "/items?limit=abc", "/items/1053034234952926464"):
        status, body = http("GET", f"{url}{path}")
        assert status == 422, (path, status, body)
    assert http("POST", f"{url}/items", [{"name": "in a list"}])[0] == 422
    assert http("POST", f"{url}/items", {"name": "nul\x00"})[0] == 422
    assert http("POST", f"{url}/items", {"name": "from-the-prod-stack"}) == (
        409,
        {"detail": "item 'from-the-prod-stack' exists"},
    )
    status, body = http("GET", f"{url}/items/2147483647")
    assert (status, set(body)) == (404, {"detail"})
    assert http("GET", f"{url}/no-such-path")[0] == 404  # as JSON: http() parses it
    paths = http("GET", f"{url}/openapi.json")[1]["paths"]
    assert {"201", "409", "422", "503"} <= set(paths["/items"]["post"]["responses"])
    assert {"200", "404", "422", "503"} <= set(paths["/items/{item_id}"]["get"]["responses"])
    assert {"200", "503"} <= set(paths["/ready"]["get"]["responses"])


@pytest.mark.parametrize(
    "answers", [p for p in PARAMS if p.values[0].get("database", "postgresql") != "none"]
)
def test_missing_prod_secret_fails_fast_and_names_it(locked, tmp_path: Path, answers: dict[str, str]) -> None:
    project = project_copy(locked, tmp_path, answers)
    stack = Stack(project, target_python(answers), files=PROD_FILES)
    stack.env.pop("POSTGRES_PASSWORD", None)
    stack.env.update({k: v for k, v in secrets_for(answers).items() if k != "POSTGRES_PASSWORD"})

    started = time.monotonic()
    completed = execute(["make", "prod-up"], project, stack.env, timeout=60)

    assert completed.returncode != 0
    assert time.monotonic() - started < 10
    assert "POSTGRES_PASSWORD must be set" in completed.stderr
    assert not (project / "secrets" / "postgres_password").exists()
    assert not stack.compose("ps", "--all", "--quiet", check=False).stdout.strip()


@pytest.mark.parametrize("answers", [*PARAMS[:2], PARAMS[3]])
def test_dev_stack_reloads_source_edits_and_the_tests_pass_inside(
    locked, tmp_path: Path, answers: dict[str, str]
) -> None:
    project = project_copy(locked, tmp_path, answers)
    stack = Stack(project, target_python(answers))  # compose.override.yaml applies by itself
    with running(stack):
        assert http("GET", f"{stack.url}/health")[1]["version"] == "0.1.0"
        image = docker("inspect", stack.container("app"), "--format", "{{.Config.Image}}").stdout.strip()
        assert image.endswith("-dev:latest")

        init = project / "src" / "orders_service" / "__init__.py"
        init.write_text(init.read_text().replace('"0.1.0"', '"0.1.0+edited"'))
        wait_for(lambda: http("GET", f"{stack.url}/health")[1]["version"] == "0.1.0+edited", timeout=30)

        # The unit tests, then the integration tests against the stack's services, on the
        # image's Python.
        for marker in ("not integration", "integration"):
            pytest_run = ("python", "-m", "pytest", "-p", "no:cacheprovider", "-m", marker)
            tests = stack.compose("exec", "-T", "app", *pytest_run, check=False)
            assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
            assert " passed" in tests.stdout
            assert " failed" not in tests.stdout
            assert " skipped" not in tests.stdout
        version = stack.compose("exec", "-T", "app", "python", "-c", "import sys; print(sys.version)")
        assert version.stdout.startswith(target_python(answers) + ".")
        if answers.get("worker") == "celery":
            # The development stack runs the periodic tasks' scheduler too, from the source.
            beat = stack.compose("logs", "--no-color", "beat").stdout
            assert "beat: Acquired lock" in beat, beat[-2000:]
            assert (
                docker(
                    "inspect", "--format", "{{.State.Health.Status}}", stack.container("beat")
                ).stdout.strip()
                == "healthy"
            )


@pytest.mark.parametrize("answers", PARAMS[:1])
def test_dev_then_prod_stack_in_one_checkout_as_the_readme_orders_them(
    locked, tmp_path: Path, answers: dict[str, str]
) -> None:
    """`make up`, `make down`, then `make prod-up`: the production stack must not inherit
    the development database (initialised with another password), and a wrong password
    must be named as such, without the password."""
    project = project_copy(locked, tmp_path, answers)
    image = f"pst-{uuid.uuid4().hex[:10]}"
    # No COMPOSE_PROJECT_NAME: the project names are what is tested. Ports and image
    # names are this test's own.
    machine = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    machine.update(
        {"APP_IMAGE": image, "APP_PORT": str(free_port()), "DEBUG_PORT": str(free_port())}
        | {"DB_PORT": str(free_port()), "REDIS_PORT": str(free_port())}
        | {"HTTP_PORT": str(free_port()), "HTTPS_PORT": str(free_port())}
    )
    password = f"prod-{uuid.uuid4().hex}"
    production = {**machine, **secrets_for(answers), "POSTGRES_PASSWORD": password}

    def make(target: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return execute(["make", target], project, env, timeout=timeout)

    def remove_everything() -> None:
        for files in ((), PROD_FILES):
            docker(
                "compose",
                *files,
                "down",
                "--volumes",
                "--timeout",
                "5",
                cwd=project,
                env=production,
                check=False,
            )
        docker("image", "rm", "--force", image, f"{image}-dev", check=False)

    remove_everything()
    try:
        up = make("up", machine)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert make("down", machine).returncode == 0

        started = time.monotonic()
        prod = make("prod-up", production, timeout=300)
        assert prod.returncode == 0, prod.stdout[-3000:] + prod.stderr[-3000:]
        assert time.monotonic() - started < 120
        # No DOMAIN: https://localhost with the proxy's local CA, which make prod-ca writes
        # for curl --cacert (the README's commands).
        assert "no DOMAIN set, so the proxy serves https://localhost" in prod.stdout
        assert make("prod-ca", machine).returncode == 0
        ready = subprocess.run(
            [
                *("curl", "--silent", "--show-error", "--cacert", "proxy-ca.crt"),
                *("--write-out", " %{http_code}", f"https://localhost:{machine['HTTPS_PORT']}/ready"),
            ],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ready.stdout.endswith(" 200"), ready.stdout + ready.stderr
        volumes = docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
        assert {"orders-service-dev_db-data", "orders-service-prod_db-data"} <= set(volumes)

        wrong = f"wrong-{uuid.uuid4().hex}"
        url = f"postgresql+psycopg://orders_service:{wrong}@db:5432/orders_service?connect_timeout=5"
        refused = docker(
            *("compose", *PROD_FILES, "run", "--rm", "--no-deps", "-e", "WAIT_TIMEOUT=2"),
            *("-e", f"DATABASE_URL={url}", "-e", "DATABASE_PASSWORD_FILE=", "app", "true"),
            cwd=project,
            env=production,
            check=False,
            timeout=120,
        )
        assert refused.returncode != 0
        said = refused.stdout + refused.stderr
        assert "database: unavailable: authentication failed" in said, said
        assert wrong not in refused.stdout + refused.stderr

        # Stopping needs no password.
        down = make("prod-down", machine)
        assert down.returncode == 0, down.stderr[-2000:]
        assert not docker(
            "ps", "--quiet", "--filter", "label=com.docker.compose.project=orders-service-prod"
        ).stdout
    finally:
        remove_everything()


def test_every_offered_python_version_is_built_or_installed_and_tested() -> None:
    """A version the questions offer and no test runs is a version nobody knows works."""
    from test_generated_project import INSTALLED

    offered = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())["python_version"]["choices"]
    in_images = {answers.get("python_version", DEFAULT_PYTHON) for answers in CONTAINERIZED}
    on_the_host = {answers.get("python_version", DEFAULT_PYTHON) for answers in INSTALLED}

    assert set(offered) <= in_images | on_the_host
    # Images exist for every offered version but 3.12 (no Debian suite has it to build a
    # stand-in here; the real python:3.12-slim exists).
    assert set(offered) - {"3.12"} <= in_images
