"""Running a GitHub Actions job's own commands here, the way a runner would.

Only `run:` steps execute: the `uses:` steps (checkout, setup-python) are what the test
has already done by copying the project and putting interpreters on PATH. A step's
shell is GitHub's default for Linux (`bash -e -o pipefail`), its environment the
workflow's, then the job's, then the step's; `if:` may be `failure()` or `always()`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

# How GitHub runs a `run:` step on Linux when no shell is named.
GITHUB_BASH = ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c"]
# The `if:` conditions this runner understands, given whether a step has failed yet.
CONDITIONS = {
    "success()": lambda failed: not failed,
    "failure()": lambda failed: failed,
    "always()": lambda failed: True,
}


@dataclass
class JobResult:
    returncode: int
    output: str
    ran: list[str]


def load_workflow(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _literal_env(*scopes: dict | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    for scope in scopes:
        for name, value in (scope or {}).items():
            text = str(value)
            assert "${{" not in text, f"env {name} needs GitHub's expression engine: {text}"
            merged[name] = text
    return merged


def run_job(
    workflow_file: Path,
    job_id: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: int = 900,
) -> JobResult:
    """Run the `run:` steps of `job_id` in order; stop at the first failure like GitHub,
    except for the steps whose `if:` asks to run after one."""
    workflow = load_workflow(workflow_file)
    job = workflow["jobs"][job_id]
    base_env = {**os.environ, **(env or {}), **_literal_env(workflow.get("env"), job.get("env"))}
    failed = False
    output: list[str] = []
    ran: list[str] = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        condition = str(step.get("if", "success()")).strip()
        assert condition in CONDITIONS, f"step condition this runner cannot evaluate: {condition}"
        if not CONDITIONS[condition](failed):
            continue
        script = step["run"]
        assert "${{" not in script, f"expression inside run: (an injection risk): {script}"
        completed = subprocess.run(
            [*GITHUB_BASH, script],
            cwd=cwd,
            env={**base_env, **_literal_env(step.get("env"))},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        ran.append(step.get("name", script.splitlines()[0]))
        output.append(f"$ {script}\n{completed.stdout}{completed.stderr}")
        failed = failed or completed.returncode != 0
    return JobResult(1 if failed else 0, "\n".join(output), ran)
