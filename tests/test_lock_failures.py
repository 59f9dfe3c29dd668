"""A failing lock step keeps the generated project, says what failed and how to finish."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lock_tools import tool_python
from support import LOCK_NAMES, OFFLINE, answers_for, python_or_fail, render, run, task_environment

LOCAL_SOURCES = ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_EXTRA_INDEX_URL")


def assert_project_kept_with_instructions(project: Path, output: str, reason: str) -> None:
    assert (project / "pyproject.toml").is_file()
    assert (project / "src" / "orders_service" / "app.py").is_file()
    assert (project / "requirements" / "base.in").is_file()
    assert "Locking requirements FAILED" in output
    assert reason in output
    assert f"cd {project} && make lock" in output


@pytest.mark.parametrize("lock_tool", ["uv", "pip-tools"])
def test_unreachable_index_keeps_the_project_and_make_lock_finishes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], lock_tool: str
) -> None:
    # The lock tool itself is already provisioned (as after any earlier copy); the
    # index it resolves against is what is down.
    python_version = "3.12" if lock_tool == "pip-tools" else "3.13"
    tool_python(lock_tool, python_version)
    with task_environment(OFFLINE, unset=LOCAL_SOURCES):
        project = render(
            tmp_path / "svc",
            answers_for("flask", "none", "none", lock_tool, python_version=python_version),
            skip_tasks=False,
        )
    output = capfd.readouterr().err

    assert_project_kept_with_instructions(project, output, "requirements/base.in could not be compiled")
    assert not list((project / "requirements").glob("*.txt"))

    # The index is back: the one command from the message finishes the job.
    run(["make", "lock", f"PYTHON={python_or_fail(python_version)}"], project)
    assert sorted(p.stem for p in (project / "requirements").glob("*.txt")) == sorted(LOCK_NAMES)


def test_lock_tool_that_cannot_be_installed_keeps_the_project(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    nothing_provisioned = {"PST_CACHE_DIR": str(tmp_path / "empty-cache")}
    with task_environment({**OFFLINE, **nothing_provisioned}, unset=LOCAL_SOURCES):
        project = render(tmp_path / "svc", answers_for("fastapi", "none", "none", "uv"), skip_tasks=False)
    output = capfd.readouterr().err

    assert_project_kept_with_instructions(project, output, "could not install uv")


def test_missing_target_interpreter_for_pip_tools_is_explained(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with task_environment({"PST_LOCK_PYTHON": str(tmp_path / "no-such-python")}):
        project = render(
            tmp_path / "svc",
            answers_for("fastapi", "none", "none", "pip-tools", python_version="3.12"),
            skip_tasks=False,
        )
    output = capfd.readouterr().err

    assert_project_kept_with_instructions(
        project, output, "no-such-python does not run, but this project runs on Python 3.12"
    )
    assert "The uv lock tool resolves for any version" in output
    assert sys.version_info[:2] != (3, 12)
