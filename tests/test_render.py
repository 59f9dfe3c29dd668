"""Every combination of answers renders into a clean, parseable, lint-clean project."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from support import (
    ALL_COMBINATIONS,
    DATABASES,
    FRAMEWORKS,
    TEMPLATE_ROOT,
    WORKERS,
    answers_for,
    combination_id,
    longest_names,
    render,
)

RUFF = str(Path(sys.executable).with_name("ruff"))
SHELLCHECK = str(Path(sys.executable).with_name("shellcheck"))
HADOLINT = str(Path(sys.executable).with_name("hadolint"))
JINJA_LEFTOVER = re.compile(r"\{\{|\{%|\{#|%\}|#\}")
# What workflows must keep: GitHub expressions and docker/metadata-action's version and
# commit-date patterns.
GITHUB_SYNTAX = re.compile(
    r"\$\{\{[^}]*\}\}|\{\{(?:version|major|minor|patch)\}\}|\{\{commit_date '[^']*'\}\}"
)
WORKFLOW_SOURCE = Path(__file__).resolve().parent.parent / "template/.github/workflows/ci.yml.jinja"


def text_files(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.is_file() and ".git" not in path.parts]


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_renders_without_leftover_jinja(rendered, combination: tuple[str, ...]) -> None:
    project = rendered(*combination)

    leftovers = [
        f"{path.relative_to(project)}: {line.strip()}"
        for path in text_files(project)
        for line in path.read_text(encoding="utf-8").splitlines()
        if JINJA_LEFTOVER.search(GITHUB_SYNTAX.sub("", line))
    ]
    assert leftovers == []
    names = [str(path.relative_to(project)) for path in project.rglob("*")]
    assert not [name for name in names if ".jinja" in name or "{" in name or "%" in name]


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_data_files_parse(rendered, combination: tuple[str, ...]) -> None:
    project = rendered(*combination)

    parsed = 0
    for path in text_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(text)
        else:
            continue
        parsed += 1
    assert parsed >= 2  # at least pyproject.toml and .copier-answers.yml


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_generated_code_passes_ruff(rendered, combination: tuple[str, ...]) -> None:
    project = rendered(*combination)

    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        completed = subprocess.run([RUFF, *command], cwd=project, capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_files_follow_the_answers(rendered, combination: tuple[str, ...]) -> None:
    framework, database, worker, lock_tool = combination
    project = rendered(*combination)
    package = project / "src" / "orders_service"

    with_database = database == "postgresql"
    assert (package / "db.py").exists() == with_database
    assert (package / "items.py").exists() == with_database
    assert (project / "alembic.ini").exists() == with_database
    assert (project / "migrations" / "versions" / "0001_create_items.py").exists() == with_database
    assert (package / "worker.py").exists() == (worker == "celery")
    # No model unless asked for: nothing of it, not even its packages.
    assert not (package / "model.py").exists()
    assert not (project / "requirements" / "train.in").exists()
    assert not (project / "model").exists()

    base_in = (project / "requirements" / "base.in").read_text()
    assert ("fastapi" in base_in) == (framework == "fastapi")
    assert ("flask" in base_in) == (framework == "flask")
    assert ("psycopg[binary]" in base_in) == with_database
    assert ("celery[redis]" in base_in) == (worker == "celery")
    assert "onnxruntime" not in base_in
    for constrained in ("dev.in", "prod.in"):
        lines = (project / "requirements" / constrained).read_text().splitlines()
        assert "-c base.txt" in lines
        assert "-r base.in" in lines

    makefile = (project / "Makefile").read_text()
    dev_in = (project / "requirements" / "dev.in").read_text().splitlines()
    assert f"tools/lock.py --tool {lock_tool}\n" in makefile
    if lock_tool == "uv":
        assert "piptools" not in makefile
        assert "uv" in dev_in
    else:
        assert "uv pip" not in makefile
        assert "pip-tools" in dev_in
    # Lock files are produced by the hook, never rendered by the template.
    assert not list((project / "requirements").glob("*.txt"))


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_answers_file_records_every_answer(rendered, combination: tuple[str, ...]) -> None:
    framework, database, worker, lock_tool = combination
    answers = yaml.safe_load((rendered(*combination) / ".copier-answers.yml").read_text())

    assert answers["framework"] == framework
    assert answers["database"] == database
    assert answers["worker"] == worker
    assert answers["lock_tool"] == lock_tool


@pytest.mark.parametrize("shape", list(itertools.product(FRAMEWORKS, DATABASES, WORKERS)), ids=combination_id)
def test_tracing_renders_lint_clean_for_every_shape(tmp_path: Path, shape: tuple[str, ...]) -> None:
    framework, database, worker = shape
    project = render(tmp_path / "svc", answers_for(*shape, "uv", tracing=True), skip_tasks=True)

    package = project / "src" / "orders_service"
    assert (package / "tracing.py").exists()
    assert (project / "tests/unit/test_tracing.py").exists()
    requirements = set((project / "requirements/base.in").read_text().splitlines())
    instrumented = {
        f"opentelemetry-instrumentation-{library}"
        for library, used in [
            ("fastapi", framework == "fastapi"),
            ("flask", framework == "flask"),
            ("psycopg", database == "postgresql"),
            ("celery", worker == "celery"),
            ("logging", True),
            ("urllib", True),
        ]
        if used
    }
    assert {line for line in requirements if "instrumentation" in line} == instrumented
    for path in project.rglob("*.py"):
        assert not JINJA_LEFTOVER.search(path.read_text(encoding="utf-8")), path
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        completed = subprocess.run([RUFF, *command], cwd=project, capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr


# Names whose lines and imports lay out differently: the shortest; one whose settings line
# once wrapped ("Acme Orders"); packages that sort before and after the tests' own helpers
# (`tests`); the longest the questions accept.
NAMES = [
    {"project_name": "A"},
    {"project_name": "Acme Orders"},
    {"project_name": "Aa Billing"},
    {"project_name": "Zz Billing"},
    longest_names(),
]


@pytest.mark.parametrize("names", NAMES, ids=lambda names: names["project_name"])
@pytest.mark.parametrize(
    "shape", [("fastapi", "postgresql", "celery"), ("flask", "postgresql", "celery")], ids="-".join
)
def test_any_valid_name_renders_lint_clean(
    tmp_path: Path, names: dict[str, str], shape: tuple[str, ...]
) -> None:
    """The richest answer sets (most lines that carry a name): ruff passes, and its
    formatter changes nothing, whatever the name's length or how it sorts."""
    richest = {"tracing": True, "deploy_targets": ["kubernetes", "swarm"], "model": "onnx"}
    answers = {**answers_for(*shape, "uv", **richest), **names}
    project = render(tmp_path / "svc", answers, skip_tasks=True)

    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        completed = subprocess.run([RUFF, *command], cwd=project, capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("shape", list(itertools.product(FRAMEWORKS, DATABASES, WORKERS)), ids=combination_id)
def test_a_model_renders_lint_clean_for_every_shape(tmp_path: Path, shape: tuple[str, ...]) -> None:
    project = render(tmp_path / "svc", answers_for(*shape, "uv", model="onnx", tracing=True), skip_tasks=True)

    package = project / "src" / "orders_service"
    assert {"model.py", "model_lock.py", "batching.py", "inference.py", "predictions.py"} <= {
        path.name for path in package.iterdir()
    }
    assert (project / "requirements/train.in").is_file()
    assert {"onnxruntime", "numpy"} <= set((project / "requirements/base.in").read_text().splitlines())
    assert "COPY --chown=root:root model/ ./model/" in (project / "Dockerfile").read_text()
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        completed = subprocess.run([RUFF, *command], cwd=project, capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13", "3.14"])
def test_every_offered_python_version_renders_lint_clean(tmp_path: Path, python_version: str) -> None:
    answers = answers_for("fastapi", "postgresql", "celery", "uv", python_version=python_version)
    project = render(tmp_path / "svc", answers, skip_tasks=True)

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + python_version.replace(".", "")
    # Where pyenv, uv, mise, asdf, setup-python and the Makefile look for the version.
    assert (project / ".python-version").read_text() == f"{python_version}\n"
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    setups = [
        step["with"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/setup-python@")
    ]
    assert setups
    assert all(setup == {"python-version-file": ".python-version"} for setup in setups)
    completed = subprocess.run(
        [RUFF, "check", "--no-cache", "."], cwd=project, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def docker_compose_config(project: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "POSTGRES_PASSWORD": "x", "REDIS_PASSWORD": "y"}
    return subprocess.run(
        ["docker", "compose", *files, "config", "--quiet"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_container_files_pass_their_linters(rendered, combination: tuple[str, ...]) -> None:
    worker = combination[2]
    project = rendered(*combination)
    scripts = sorted((project / "scripts").glob("*.sh"))

    expected = {"entrypoint.sh", "healthcheck.sh", "start-dev.sh", "start-prod.sh"}
    if worker == "celery":
        expected |= {"start-worker.sh", "start-beat.sh"}
    if combination[1] == "postgresql":
        expected.add("scheduled-backups.sh")
    assert {s.name for s in scripts} == expected
    for script in scripts:
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        assert b"\r\n" not in script.read_bytes()
        if script.name == "scheduled-backups.sh":
            # Run in the postgres image, whose alpine variant has no bash.
            assert script.read_text().startswith("#!/bin/sh\n")
            assert "set -eu" in script.read_text()
            continue
        assert script.read_text().startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in script.read_text()
    for linter, targets in (
        (SHELLCHECK, scripts),
        (HADOLINT, [project / "Dockerfile", project / "Dockerfile.dev"]),
    ):
        completed = subprocess.run([linter, *map(str, targets)], capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stdout + completed.stderr
    # Compose files are valid for development (override applied) and production.
    for files in ((), ("-f", "compose.yaml", "-f", "compose.prod.yaml")):
        completed = docker_compose_config(project, *files)
        assert completed.returncode == 0, completed.stderr


def test_the_caddyfile_is_valid_for_caddy_and_formatted_as_caddy_formats_it(rendered) -> None:
    """proxy/Caddyfile, with what compose and Swarm give it, checked by the caddy:2 image."""
    caddyfile = rendered(*ALL_COMBINATIONS[0]) / "proxy" / "Caddyfile"
    run = ["docker", "run", "--rm", "--volume", f"{caddyfile}:/etc/caddy/Caddyfile:ro"]
    run += ["--env", "DOMAIN=api.example.com", "--env", "MAX_BODY_BYTES=10485760", "caddy:2", "caddy"]
    validated = subprocess.run(
        [*run, "validate", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stderr[-3000:]
    assert "Valid configuration" in validated.stdout + validated.stderr
    formatted = subprocess.run(
        [*run, "fmt", "/etc/caddy/Caddyfile"], capture_output=True, text=True, check=False
    )
    assert formatted.returncode == 0, formatted.stderr
    assert formatted.stdout == caddyfile.read_text()


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        (
            {"BACKUP_SCHEDULE": "0 3 * *"},
            "BACKUP_SCHEDULE must be a cron expression of 5 fields (it is '0 3 * *')",
        ),
        ({"BACKUP_SCHEDULE": "0 3 * * mon"}, "BACKUP_SCHEDULE: 'mon' is not a cron field"),
        ({"BACKUP_KEEP": "0"}, "BACKUP_KEEP must be a whole number of dumps, 1 or more (it is '0')"),
        ({"BACKUP_KEEP": "seven"}, "BACKUP_KEEP must be a whole number of dumps, 1 or more (it is 'seven')"),
    ],
)
def test_scheduled_backups_refuse_a_bad_setting_by_name(
    rendered, tmp_path: Path, variables: dict, said: str
) -> None:
    script = rendered("fastapi", "postgresql", "none", "uv") / "scripts" / "scheduled-backups.sh"
    password = tmp_path / "password"
    password.write_text("x")
    environment = {"PATH": "/usr/bin:/bin", "PGDATABASE": "orders", "POSTGRES_PASSWORD_FILE": str(password)}
    environment["BACKUP_DIR"] = str(tmp_path / "backups")
    completed = subprocess.run(
        ["sh", str(script)],
        env={**environment, **variables},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert completed.returncode == 2
    (line,) = [json.loads(line) for line in completed.stdout.splitlines()]
    assert line["level"] == "ERROR"
    assert line["message"].startswith(said), line
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("combination", ALL_COMBINATIONS[:2], ids=combination_id)
def test_github_expressions_reach_the_workflow_byte_for_byte(rendered, combination: tuple[str, ...]) -> None:
    """Jinja and GitHub Actions share `{{ }}`: every expression of the source must come out as is."""
    workflow = (rendered(*combination) / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    source = WORKFLOW_SOURCE.read_text(encoding="utf-8")

    expressions = GITHUB_SYNTAX.findall(source)
    assert len(expressions) >= 12
    assert GITHUB_SYNTAX.findall(workflow) == expressions
    assert "${{ github.event_name == 'pull_request' }}" in workflow
    assert "type=semver,pattern={{major}}.{{minor}}" in workflow


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_the_entrypoint_waits_only_when_there_is_a_service_to_wait_for(
    rendered, combination: tuple[str, ...]
) -> None:
    _, database, worker, _ = combination
    project = rendered(*combination)
    has_services = database != "none" or worker != "none"

    entrypoint = (project / "scripts" / "entrypoint.sh").read_text()

    assert ("wait_for_dependencies" in entrypoint) == has_services
    assert (project / "src/orders_service/wait_for_dependencies.py").exists() == has_services


def test_python_templates_have_one_file_per_framework() -> None:
    """A Python file renders for one framework; a difference between FastAPI and Flask
    is a file of each, never a branch inside one (the tests' client hides the rest)."""
    templates = [
        path for path in (TEMPLATE_ROOT / "template").rglob("*") if path.is_file() and ".py" in path.name
    ]
    assert templates
    branching = [p for p in templates if re.search(r"\{%-?\s*(if|elif)\s+framework", p.read_text())]
    assert branching == []
