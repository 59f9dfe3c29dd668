"""A team member's development environment, as another user of this machine (UID 1234,
in the docker group): `make up` runs the development image as them, and the dev container
opens with the real dev container CLI, runs the tests inside and is torn down. Files the
containers write into the project are theirs. Needs a Docker engine
(../shared/docker-lab/up) and Node.js; never skipped."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dockerized import docker, isolation, new_name
from other_user import User, someone
from support import FASTAPI_MODEL, FLASK_EVERY_SERVICE_311, TEMPLATE_ROOT
from test_locks import group

CLI_PACKAGE = TEMPLATE_ROOT / "tests" / "devcontainer-cli"


@pytest.fixture(scope="module")
def user() -> User:
    return someone()


@pytest.fixture(scope="session")
def devcontainer_cli() -> Path:
    """The pinned CLI (tests/devcontainer-cli/package-lock.json), installed once by `npm ci`
    where any user can run it."""
    lock = (CLI_PACKAGE / "package-lock.json").read_bytes()
    home = Path(f"/tmp/pst-devcontainer-cli-{hashlib.sha256(lock).hexdigest()[:12]}")
    cli = home / "node_modules" / ".bin" / "devcontainer"
    if not cli.exists():
        staging = home.with_name(f"{home.name}-{uuid.uuid4().hex[:6]}")
        staging.mkdir(mode=0o755)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(CLI_PACKAGE / name, staging / name)
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=staging, capture_output=True, text=True, check=False
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        staging.rename(home)  # whole, or not at all: a second worker may do the same
    return cli


def remove_stack(name: str, *images: str) -> list[str]:
    """Down by project name, volumes included, with its images: the containers still
    there (none)."""
    down = ("compose", "--project-name", name, "down", "--volumes", "--timeout", "5")
    docker(*down, cwd=Path("/"), check=False)
    built = docker("images", "--quiet", "--filter", f"reference={name}*", check=False).stdout.split()
    if built or images:
        docker("image", "rm", "--force", *built, *images, check=False)
    label = f"label=com.docker.compose.project={name}"
    return docker("ps", "--all", "--quiet", "--filter", label).stdout.split()


def owner(path: Path) -> int:
    return path.stat().st_uid


@pytest.mark.xdist_group(group(FLASK_EVERY_SERVICE_311))
def test_make_up_runs_the_development_image_as_whoever_runs_make(user: User, locked) -> None:
    project = user.workspace(locked(**FLASK_EVERY_SERVICE_311))
    env = isolation(new_name())
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", **env}
    try:
        up = user.run(["make", "up"], project, environment)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        written = user.run(
            [
                "docker",
                "compose",
                "exec",
                "-T",
                "app",
                "sh",
                "-c",
                "id -u && touch written && mkdir -p made/deeper",
            ],
            project,
            environment,
        )
        assert written.returncode == 0, written.stdout + written.stderr
        assert written.stdout.split()[0] == str(user.uid)
        for path in ("written", "made", "made/deeper"):
            assert owner(project / path) == user.uid, path
        # The integration tests in the stack, as the README orders them, write as them too.
        tested = user.run(["make", "docker-test"], project, environment)
        assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
        assert " passed" in tested.stdout
        not_theirs = [p for p in project.rglob("*") if owner(p) != user.uid]
        assert not_theirs == []
        assert user.run(["make", "down"], project, environment).returncode == 0
        # Nothing left in the project that they cannot delete.
        removed = user.run(["rm", "-rf", str(project)], project.parent, environment)
        assert removed.returncode == 0, removed.stderr
        assert not project.exists()
    finally:
        left = remove_stack(env["COMPOSE_PROJECT_NAME"])
        shutil.rmtree(project.parent, ignore_errors=True)
    assert left == []


@contextmanager
def dev_container(
    user: User, source: Path, cli: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[Path, dict[str, str], dict]]:
    """`devcontainer up` on a copy of `source` that `user` owns; the stack is torn down
    after, and nothing of it may be left."""
    project = user.workspace(source)
    env = {"PATH": f"{cli.parent}:/usr/local/bin:/usr/bin:/bin", **isolation(new_name()), **(env or {})}
    images: list[str] = []
    try:
        up = user.run(["devcontainer", "up", "--workspace-folder", str(project)], project, env)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        outcome = json.loads(up.stdout.strip().splitlines()[-1])
        assert outcome["outcome"] == "success", outcome
        # The CLI's own image: the development image with `app` given the user's UID.
        images.append(
            docker("inspect", "--format", "{{.Config.Image}}", outcome["containerId"]).stdout.strip()
        )
        yield project, env, outcome
    finally:
        left = remove_stack(env["COMPOSE_PROJECT_NAME"], *images)
        shutil.rmtree(project.parent, ignore_errors=True)
    assert left == [], "the dev container's stack was not torn down"


def run_inside(
    user: User, project: Path, env: dict[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    return user.run(
        ["devcontainer", "exec", "--workspace-folder", str(project), *command], project, env, timeout=600
    )


@pytest.mark.xdist_group(group(FLASK_EVERY_SERVICE_311))
def test_the_dev_container_opens_runs_the_tests_inside_and_is_yours(
    user: User, locked, devcontainer_cli: Path
) -> None:
    with dev_container(user, locked(**FLASK_EVERY_SERVICE_311), devcontainer_cli) as (project, env, outcome):
        config = json.loads((project / ".devcontainer" / "devcontainer.json").read_text())
        # Nothing from a feature repository or a registry: the image is built from the project.
        assert "features" not in config
        assert "image" not in config

        def inside(*command: str) -> subprocess.CompletedProcess[str]:
            return run_inside(user, project, env, *command)

        for target in ("test", "test-integration"):
            tests = inside("make", target)
            assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
            assert " passed" in tests.stdout
            assert " failed" not in tests.stdout
            assert " skipped" not in tests.stdout

        # The editor's interpreter, its ruff and pytest, as the settings name them.
        settings = config["customizations"]["vscode"]["settings"]
        interpreter = settings["python.defaultInterpreterPath"]
        tools = inside(interpreter, "-m", "ruff", "check", "src", "tests")
        assert tools.returncode == 0, tools.stdout + tools.stderr
        assert settings["ruff.interpreter"] == [interpreter]
        assert inside(interpreter, "-m", "pytest", "--version").returncode == 0

        # The server runs, on the port forwarded.
        assert 8000 in config["forwardPorts"]
        script = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/health').status)"
        assert inside(interpreter, "-c", script).stdout.strip() == "200"

        # Their UID, and their files.
        assert outcome["remoteUser"] == config["remoteUser"]
        written = inside("sh", "-c", "id -u && touch from-the-dev-container")
        assert written.stdout.split()[0] == str(user.uid)
        assert owner(project / "from-the-dev-container") == user.uid
        assert owner(project / ".pytest_cache") == user.uid


# The model's ready answer, from inside the dev container, once its server answers.
MODEL_READY = """
import time, urllib.request
for _ in range(120):
    try:
        print(urllib.request.urlopen("http://127.0.0.1:8000/v2/health/ready", timeout=2).read().decode())
        break
    except OSError:
        time.sleep(1)
"""


@pytest.mark.xdist_group(group(FASTAPI_MODEL))
def test_the_dev_container_works_for_root_with_its_ids_passed_as_the_readme_says(
    locked, devcontainer_cli: Path
) -> None:
    """The CLI cannot give `app` UID 0 (root exists), so as root (CI) the README passes
    UID/GID to compose, as make does. A service with a model, never made: the container's
    creation makes it (in a training venv of its own), and the server then serves it."""
    root = User("root", 0, 0, Path("/root"))
    ids = {"UID": "0", "GID": "0"}
    with dev_container(root, locked(**FASTAPI_MODEL), devcontainer_cli, ids) as (project, env, _):
        assert (project / "model" / "model.lock.json").is_file()
        assert not (project / ".venv-train").exists()  # the container's own, not in the project
        ready = run_inside(root, project, env, "python", "-c", MODEL_READY)
        assert ready.stdout.strip() == '{"ready":true}', ready.stdout + ready.stderr
        tests = run_inside(root, project, env, "make", "test")
        assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
        assert run_inside(root, project, env, "id", "-u").stdout.strip() == "0"
        assert owner(project / ".pytest_cache") == 0
