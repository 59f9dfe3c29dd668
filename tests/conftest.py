"""Fixtures: services generated from this checkout, once per session, and the machine's
interpreters and package sources. Helpers are in support.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import answers_for, combination_id, python_or_fail, render, task_environment
from template_releases import template_releases


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of one xdist_group share a generated project, built images or the swarm, and
    must run on one worker (--dist=loadgroup). pytest-xdist marks them by suffixing their
    node ids with @group; a pytest it does not support ignores that silently."""
    if not getattr(config.option, "loadgroup", False):
        return
    ungrouped = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if ungrouped:
        raise pytest.UsageError(
            f"pytest-xdist did not group {len(ungrouped)} tests (e.g. {ungrouped[0]}): "
            "this pytest and pytest-xdist do not work together; see requirements/dev.in"
        )


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

    def get(**answers: str | list[str]) -> Path:
        key = tuple(sorted((name, repr(value)) for name, value in answers.items()))
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
    return template_releases(tmp_path)
