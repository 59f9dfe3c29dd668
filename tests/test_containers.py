"""The generated service in containers: images built, stacks brought up and exercised.

Needs a Docker engine (here: ../shared/docker-lab/up, called by .ci/run). Without one
these tests fail; they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from dockerized import PROD_FILES, Stack, docker, free_port, http, running, wait_for
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
        assert "No broken requirements found" in inside("pip check")
        find_dev_tools = (
            "import importlib.util as u; print([m for m in ('pytest', 'pre_commit') if u.find_spec(m)])"
        )
        assert inside(f'python -c "{find_dev_tools}"') == "[]"
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
    # Access logs are off by default; on here, to check that Docker's probes stay out of them.
    stack = Stack(
        project, target_python(answers), files=PROD_FILES, env={**secrets_for(answers), "ACCESS_LOG": "-"}
    )
    with running(stack):
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

        if answers.get("database", "postgresql") == "postgresql":
            current = stack.compose("exec", "-T", "app", "alembic", "current").stdout
            assert "(head)" in current
            status, item = http("POST", f"{stack.url}/items", {"name": "from-the-prod-stack"})
            assert status == 201, item
            assert http("GET", f"{stack.url}/items/{item['id']}") == (200, item)
            assert_bad_input_is_refused_and_documented(stack.url)

        if answers.get("worker") == "celery":
            status, queued = http("POST", f"{stack.url}/tasks/add", {"x": 19, "y": 23})
            assert status == 202
            done = wait_for(
                lambda: (
                    (r := http("GET", f"{stack.url}/tasks/{queued['task_id']}")[1])["status"] == "SUCCESS"
                    and r
                ),
                timeout=30,
            )
            assert done["result"] == 42

        # Docker's probe ran (the app is healthy) but stays out of the access log; ours is in it.
        logs = stack.compose("logs", "--no-color", "app").stdout
        # Nothing writes to the read-only root filesystem (gunicorn's control socket once did).
        assert "Read-only file system" not in logs
        assert "GET /health HTTP/1.1" in logs
        # The probe speaks HTTP/1.0, which granian logs as `HTTP/1`.
        assert '"GET /health HTTP/1.0"' not in logs
        assert '"GET /health HTTP/1"' not in logs

        started = time.monotonic()
        docker("stop", app)
        stopped_in = time.monotonic() - started
        assert stopped_in < 5, f"docker stop took {stopped_in:.1f} s: SIGTERM does not reach the server"
        assert docker("inspect", app, "--format", "{{.State.ExitCode}}").stdout.strip() == "0"


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
    completed = stack.compose("up", "--detach", "--wait", check=False, timeout=60)

    assert completed.returncode != 0
    assert time.monotonic() - started < 10
    assert "POSTGRES_PASSWORD must be set" in completed.stderr
    assert not stack.compose("ps", "--quiet", check=False).stdout.strip()


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
        status, body = http("GET", f"http://127.0.0.1:{machine['APP_PORT']}/ready")
        assert status == 200, body
        volumes = docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
        assert {"orders-service-dev_db-data", "orders-service-prod_db-data"} <= set(volumes)

        wrong = f"wrong-{uuid.uuid4().hex}"
        url = f"postgresql+psycopg://orders_service:{wrong}@db:5432/orders_service?connect_timeout=5"
        refused = docker(
            *("compose", *PROD_FILES, "run", "--rm", "--no-deps", "-e", "WAIT_TIMEOUT=2"),
            *("-e", f"DATABASE_URL={url}", "app", "true"),
            cwd=project,
            env=production,
            check=False,
            timeout=120,
        )
        assert refused.returncode != 0
        assert "database: unavailable: authentication failed" in refused.stderr, refused.stderr
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
