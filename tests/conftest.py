"""Shared fixtures: generating services from this checkout and inspecting them."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from copier import run_copy
from plumbum import local

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
# The hooks and the generated project's tools are scripts, not packages.
sys.path[:0] = [str(TEMPLATE_ROOT / "hooks"), str(TEMPLATE_ROOT / "template" / "tools")]

from find_python import find_python  # noqa: E402

COPIER_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
FRAMEWORKS = ("fastapi", "flask")
DATABASES = ("postgresql", "none")
WORKERS = ("celery", "none")
LOCK_TOOLS = ("pip-tools", "uv")
ALL_COMBINATIONS = list(itertools.product(FRAMEWORKS, DATABASES, WORKERS, LOCK_TOOLS))


def combination_id(combination: tuple[str, ...]) -> str:
    return "-".join(combination)


def answers_for(framework: str, database: str, worker: str, lock_tool: str, **extra: str) -> dict[str, str]:
    return {
        "project_name": "Orders Service",
        "framework": framework,
        "database": database,
        "worker": worker,
        "lock_tool": lock_tool,
        **extra,
    }


def pytest_configure(config: pytest.Config) -> None:
    # Run as `make test PYTHON=...`, the suite inherits make's command-line variables,
    # which the generated projects' own `make` would take as theirs (PYTHON ?= python3.13).
    for variable in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHON"):
        os.environ.pop(variable, None)
    # Copier commits in temporary clones and the update tests commit projects; a CI
    # machine may have no git identity.
    for variable, value in {
        "GIT_AUTHOR_NAME": "Template Tests",
        "GIT_AUTHOR_EMAIL": "tests@example.com",
        "GIT_COMMITTER_NAME": "Template Tests",
        "GIT_COMMITTER_EMAIL": "tests@example.com",
    }.items():
        os.environ.setdefault(variable, value)


@contextmanager
def task_environment(set_: dict[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """Change the environment copier's tasks see, for the duration of the block.

    Copier hands tasks plumbum's copy of the environment, taken when plumbum was
    imported, so os.environ alone (monkeypatch.setenv) would not reach the hooks.
    """
    with pytest.MonkeyPatch.context() as patch, local.env():
        for name, value in set_.items():
            patch.setenv(name, value)
            local.env[name] = value
        for name in unset:
            patch.delenv(name, raising=False)
            local.env.pop(name, None)
        yield


def render(
    destination: Path,
    answers: dict[str, str],
    *,
    skip_tasks: bool,
    src: Path = TEMPLATE_ROOT,
    vcs_ref: str = "HEAD",
) -> Path:
    """Generate a project through copier's API, as `copier copy --trust --defaults` would."""
    run_copy(
        str(src),
        str(destination),
        data=answers,
        defaults=True,
        unsafe=True,
        quiet=True,
        skip_tasks=skip_tasks,
        vcs_ref=vcs_ref,
    )
    return destination


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Render (tasks skipped) once per combination for the whole session."""
    cache: dict[tuple[str, ...], Path] = {}

    def get(framework: str, database: str, worker: str, lock_tool: str) -> Path:
        key = (framework, database, worker, lock_tool)
        if key not in cache:
            destination = tmp_path_factory.mktemp("rendered") / combination_id(key)
            cache[key] = render(destination, answers_for(*key), skip_tasks=True)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def machine_local_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pip and uv settings pointing at local folders, as on a machine with a pip.conf
    like this one's: a lock file that mentions any of them would not work elsewhere."""
    local = tmp_path_factory.mktemp("machine-local")
    (local / "wheels").mkdir()
    (local / "simple").mkdir()
    return {
        "PIP_FIND_LINKS": str(local / "wheels"),
        "PIP_EXTRA_INDEX_URL": f"file://{local / 'simple'}",
        "PIP_TRUSTED_HOST": "pypi.internal.example",
        "UV_FIND_LINKS": str(local / "wheels"),
        "UV_EXTRA_INDEX_URL": f"file://{local / 'simple'}",
        "MACHINE_LOCAL_ROOT": str(local),
    }


@pytest.fixture(scope="session")
def locked(copie_session, machine_local_sources: dict[str, str]) -> Callable[..., Path]:
    """Generate with the real lock step (pytest-copie), once per answer set for the session."""
    cache: dict[tuple[tuple[str, str], ...], Path] = {}

    def get(**answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in cache:
            with task_environment(machine_local_sources):
                result = copie_session.copy(extra_answers={"project_name": "Orders Service", **answers})
            assert result.exit_code == 0, result.exception
            cache[key] = result.project_dir
        return cache[key]

    return get


@pytest.fixture(scope="session")
def tool_environment(machine_local_sources: dict[str, str]) -> dict[str, str]:
    """An interpreter of every offered version on PATH (pre-commit's language_version and
    the generated Makefile look for `python3.X`), and the machine-local package sources
    the locks were made with: the lock check must stay clean on such a machine."""
    directories = [str(Path(python_or_fail(v)).parent) for v in ("3.11", "3.12", "3.13")]
    return {
        **os.environ,
        **machine_local_sources,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), *directories, os.environ["PATH"]]),
    }


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    """This template as a git repository tagged v0.1.0 (before the 0.2.0 rename) and v0.2.0."""
    from template_releases import template_releases  # imports this module

    return template_releases(tmp_path)


def python_or_fail(version: str) -> str:
    """An interpreter of `version`; the suite is meant to run where 3.11 to 3.13 exist."""
    python = find_python(version)
    assert python is not None, f"Python {version} is needed by this test and was not found"
    return python


def execute(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command, its output captured, for the test to judge."""
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run a command that must succeed; its output, or a failure that shows it."""
    completed = execute(command, cwd, env, timeout)
    output = f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    assert completed.returncode == 0, f"{' '.join(command)} failed ({completed.returncode}):\n{output}"
    return completed.stdout + completed.stderr


def make_venv(python: str, where: Path) -> Path:
    if where.exists():
        shutil.rmtree(where)
    run([python, "-m", "venv", str(where)], cwd=where.parent)
    return where / "bin" / "python"
