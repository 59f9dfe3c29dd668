"""GitHub's "Use this template", simulated: a new repository holding a copy of the
template's files, bootstrapped by .github/scripts/bootstrap_service.py as the workflow
runs it. The result must be what `copier copy` makes, and `copier update` must work."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from copier import run_update
from support import TEMPLATE_ROOT, execute, git, new_repository, render
from template_releases import differences, release

SCRIPT = ".github/scripts/bootstrap_service.py"
WORKFLOW = ".github/workflows/bootstrap.yml"


def created_from_template(template: Path, where: Path) -> Path:
    """What the button makes: the template's files (no history, no tags), one commit."""
    repository = where / "orders-api"
    shutil.copytree(template, repository, ignore=shutil.ignore_patterns(".git"))
    return new_repository(repository, "Initial commit")


def metadata(where: Path, template_url: str | None, **changes: object) -> Path:
    """The part of `gh api repos/OWNER/NAME` the script reads."""
    repository = {
        "name": "orders-api",
        "full_name": "acme/orders-api",
        "description": "Orders for the shop",
        "owner": {"login": "acme"},
        "is_template": False,
        "template_repository": template_url
        and {"full_name": "acme/python-service-template", "clone_url": template_url},
        **changes,
    }
    path = where / "repository.json"
    path.write_text(json.dumps(repository))
    return path


def bootstrap(repository: Path, metadata_file: Path, *extra: str, token: str | None = "a-token"):
    env = {k: v for k, v in os.environ.items() if k != "BOOTSTRAP_TOKEN"}
    if token:
        env["BOOTSTRAP_TOKEN"] = token
    command = [
        sys.executable,
        SCRIPT,
        "--repository-json",
        str(metadata_file),
        "--token-env",
        "BOOTSTRAP_TOKEN",
    ]
    return execute([*command, *extra], repository, env)


def test_bootstrap_makes_the_service_copier_would_and_updates_work(tmp_path: Path, releases: Path) -> None:
    repository = created_from_template(releases, tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repository, "push", "-q", str(remote), "main")

    completed = bootstrap(repository, metadata(tmp_path, str(releases)), "--push", str(remote))

    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "acme/orders-api is now a service generated from acme/python-service-template v0.2.0" in (
        completed.stderr
    )
    expected = render(
        tmp_path / "expected",
        {
            "project_name": "orders-api",
            "description": "Orders for the shop",
            "author_name": "acme",
            "author_email": "acme@users.noreply.github.com",
        },
        skip_tasks=False,
        src=releases,
        vcs_ref="v0.2.0",
    )
    # Nothing of the template is left, nothing of the service is missing; locks included.
    assert differences(repository, expected, ignore=set()) == []
    answers = yaml.safe_load((repository / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(releases)
    assert answers["_commit"] == "v0.2.0"
    assert git(repository, "status", "--porcelain") == ""
    assert git(remote, "log", "-1", "--format=%s", "main").strip() == (
        "Generate the service from acme/python-service-template v0.2.0"
    )

    # A later template release reaches the service through copier update.
    readme = releases / "template/README.md.jinja"
    readme.write_text(readme.read_text() + "\nAdded in template 0.3.0.\n")
    release(releases, "v0.3.0")
    run_update(str(repository), defaults=True, overwrite=True, unsafe=True, quiet=True, vcs_ref="v0.3.0")
    assert (repository / "README.md").read_text().endswith("Added in template 0.3.0.\n")
    assert yaml.safe_load((repository / ".copier-answers.yml").read_text())["_commit"] == "v0.3.0"


@pytest.mark.parametrize(
    "changes",
    [{"template_repository": None}, {"is_template": True}],
    ids=["not-from-a-template", "the-template"],
)
def test_bootstrap_leaves_other_repositories_alone(tmp_path: Path, releases: Path, changes: dict) -> None:
    repository = created_from_template(releases, tmp_path)
    head = git(repository, "rev-parse", "HEAD")

    completed = bootstrap(repository, metadata(tmp_path, str(releases), **changes), token=None)

    assert completed.returncode == 0
    assert "nothing to do" in completed.stderr
    assert git(repository, "rev-parse", "HEAD") == head
    assert (repository / "copier.yml").exists()


def test_bootstrap_without_a_workflow_token_fails_and_says_how_to_fix_it(
    tmp_path: Path, releases: Path
) -> None:
    repository = created_from_template(releases, tmp_path)
    head = git(repository, "rev-parse", "HEAD")

    completed = bootstrap(repository, metadata(tmp_path, str(releases)), token=None)

    assert completed.returncode == 1
    assert "::error title=Secret BOOTSTRAP_TOKEN is missing::" in completed.stderr
    assert '"Workflows: Read and write"' in completed.stderr
    assert git(repository, "rev-parse", "HEAD") == head
    assert git(repository, "status", "--porcelain") == ""


def test_bootstrap_with_answers_copier_refuses_changes_nothing(tmp_path: Path, releases: Path) -> None:
    repository = created_from_template(releases, tmp_path)
    head = git(repository, "rev-parse", "HEAD")

    completed = bootstrap(repository, metadata(tmp_path, str(releases), name="42-orders"))

    assert completed.returncode == 1
    assert "Rename the repository" in completed.stderr
    assert git(repository, "rev-parse", "HEAD") == head
    assert git(repository, "status", "--porcelain") == ""


def test_bootstrap_workflow_runs_the_script_in_generated_repositories_only() -> None:
    workflow = yaml.safe_load((TEMPLATE_ROOT / WORKFLOW).read_text())
    job = workflow["jobs"]["bootstrap"]
    assert job["if"] == "${{ !github.event.repository.is_template }}"
    run = next(step["run"] for step in job["steps"] if SCRIPT in step.get("run", ""))
    assert "--token-env BOOTSTRAP_TOKEN" in run
    assert "--push" in run
    assert job["permissions"] == {"contents": "read"}


def test_the_templates_own_ci_stays_out_of_repositories_created_from_it() -> None:
    workflow = yaml.safe_load((TEMPLATE_ROOT / ".github/workflows/ci.yml").read_text())
    assert {job["if"] for job in workflow["jobs"].values()} == {"${{ github.event.repository.is_template }}"}
