"""The generated project installs from its own locks under its Python version and its tests pass."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import (
    COPIER_PYTHON,
    DEFAULT_PYTHON,
    FLASK_EVERY_SERVICE_311,
    FLASK_NO_SERVICE_312,
    answer_id,
    make_venv,
    python_or_fail,
    run,
)
from test_locks import group

# Representative combinations, three Python versions, both lock tools.
INSTALLED = [
    {"framework": "fastapi", "database": "postgresql", "worker": "celery", "lock_tool": "pip-tools"},
    FLASK_NO_SERVICE_312,
    FLASK_EVERY_SERVICE_311,
    {
        "framework": "fastapi",
        "database": "none",
        "worker": "celery",
        "lock_tool": "uv",
        "python_version": "3.12",
    },
]
PARAMS = [
    pytest.param(answers, id=answer_id(answers), marks=pytest.mark.xdist_group(group(answers)))
    for answers in INSTALLED
]


def installed(python: str, where: Path, lock: Path) -> Path:
    """A new venv with exactly `lock` installed, hash-checked and consistent; its python."""
    venv = make_venv(python, where)
    run([str(venv), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(lock)], lock.parent)
    run([str(venv), "-m", "pip", "check"], lock.parent)
    return venv


@pytest.mark.parametrize("answers", PARAMS)
def test_locks_install_with_hashes_and_unit_tests_pass(
    locked, tmp_path: Path, answers: dict[str, str]
) -> None:
    project = locked(**answers)
    target = answers.get("python_version", DEFAULT_PYTHON)
    python = python_or_fail(target)

    dev = installed(python, tmp_path / "dev", project / "requirements/dev.txt")
    version = run([str(dev), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], project)
    assert version.strip() == target

    output = run([str(dev), "-m", "pytest", "-p", "no:cacheprovider", "-q"], project)
    assert " passed" in output
    assert " failed" not in output
    assert " error" not in output

    prod = installed(python, tmp_path / "prod", project / "requirements/prod.txt")
    # The production server and the app import with prod dependencies only.
    server = "uvicorn_worker" if answers["framework"] == "fastapi" else "orders_service.serve"
    run(
        [str(prod), "-c", f"import {server}, orders_service.app"],
        project,
        env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    "answers",
    [p for p in PARAMS if p.values[0].get("python_version", DEFAULT_PYTHON) != COPIER_PYTHON][:2]
    + [p for p in PARAMS if p.values[0]["lock_tool"] == "uv"][:1],
)
def test_makefile_sync_test_lint_and_lock_reproduce_the_hook(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    """`make lock` must write what the copier hook wrote: CI's freshness check relies on it."""
    project = tmp_path / "project"
    shutil.copytree(locked(**answers), project)
    python = python_or_fail(answers.get("python_version", DEFAULT_PYTHON))
    before = {p.name: p.read_text() for p in (project / "requirements").glob("*.txt")}

    run(["make", "sync", f"PYTHON={python}"], project)
    assert "passed" in run(["make", "test"], project)
    # pre-commit checks the files git knows of.
    run(["git", "init", "--quiet"], project)
    run(["git", "add", "--all"], project)
    assert "zizmor" in run(["make", "lint"], project, env=tool_environment)
    run(["make", "lock"], project)

    after = {p.name: p.read_text() for p in (project / "requirements").glob("*.txt")}
    assert after == before


@pytest.mark.parametrize("answers", [p for p in PARAMS if p.values[0]["lock_tool"] == "pip-tools"][:1])
def test_make_lock_refuses_an_interpreter_of_another_version(
    locked, tmp_path: Path, answers: dict[str, str]
) -> None:
    """pip-compile would silently write locks for the wrong Python."""
    project = tmp_path / "project"
    shutil.copytree(locked(**answers), project)
    before = {p.name: p.read_text() for p in (project / "requirements").glob("*.txt")}
    wrong = python_or_fail("3.11" if answers.get("python_version", DEFAULT_PYTHON) != "3.11" else "3.12")

    completed = subprocess.run(
        ["make", "lock", f"LOCK_PYTHON={wrong}"], cwd=project, capture_output=True, text=True, check=False
    )

    assert completed.returncode != 0
    assert "error: the locks are for Python 3.13 (.python-version), but" in completed.stderr
    assert "rm -rf .venv && make sync" in completed.stderr
    assert before == {p.name: p.read_text() for p in (project / "requirements").glob("*.txt")}


REFUSING_SHIM = """#!/bin/sh
echo "pyenv: $(basename "$0"): command not found" >&2
exit 127
"""


def pyenv_machine(where: Path, installed: dict[str, str]) -> dict[str, str]:
    """A machine set up like many: pyenv with 3.11 as its global version and other versions
    installed (`installed`: version -> real interpreter). pyenv puts a shim for every
    installed version on PATH, and a shim refuses to run a version that is not selected."""
    shims, versions = where / "shims", where / "pyenv" / "versions"
    shims.mkdir(parents=True)
    (shims / "python3").symlink_to(python_or_fail("3.11"))
    for version, interpreter in installed.items():
        (shims / f"python{version}").write_text(REFUSING_SHIM)
        (shims / f"python{version}").chmod(0o755)
        (versions / f"{version}.0" / "bin").mkdir(parents=True)
        (versions / f"{version}.0" / "bin" / f"python{version}").symlink_to(interpreter)
    (where / "home").mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYENV", "UV_PYTHON"))}
    return {
        **environment,
        "PATH": f"{shims}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(where / "home"),
        "PYENV_ROOT": str(where / "pyenv"),
    }


def test_make_sync_and_test_find_the_locked_python_past_a_refusing_pyenv_shim(locked, tmp_path: Path) -> None:
    """The lock step found pyenv's 3.13 for the defaults; `make sync` must find it too."""
    project = tmp_path / "project"
    shutil.copytree(locked(), project)
    assert (project / ".python-version").read_text() == "3.13\n"
    machine = pyenv_machine(tmp_path / "machine", {"3.13": python_or_fail("3.13")})
    refused = subprocess.run(["python3.13", "-V"], env=machine, capture_output=True, text=True, check=False)
    assert refused.returncode == 127

    output = run(["make", "sync"], project, env=machine)

    assert f"{tmp_path}/machine/pyenv/versions/3.13.0/bin/python3.13 -m venv .venv" in output
    version = run([".venv/bin/python", "-c", "import sys; print(sys.version_info[:2])"], project)
    assert version.strip() == "(3, 13)"
    assert " passed" in run(["make", "test"], project, env=machine)


def test_make_sync_says_in_one_line_which_python_is_missing(locked, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(locked(), project)
    machine = pyenv_machine(tmp_path / "machine", {})

    completed = subprocess.run(
        ["make", "sync"], cwd=project, env=machine, capture_output=True, text=True, check=False
    )

    assert completed.returncode != 0
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: Python 3.13 (.python-version) was not found on this machine: install it with "
        "`uv python install 3.13`, `pyenv install 3.13` or from python.org, "
        "or name one with PYTHON=/path/to/python3.13."
    ]
    assert not (project / ".venv").exists()
