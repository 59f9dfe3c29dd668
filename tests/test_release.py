"""Releases follow CHANGELOG.md: its newest version heading is the tag the release
workflow creates (.github/scripts/release.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import TEMPLATE_ROOT, git, new_repository

sys.path.insert(0, str(TEMPLATE_ROOT / ".github" / "scripts"))

from release import ReleaseError, newest_version, sections, tag_to_create

SCRIPT = TEMPLATE_ROOT / ".github" / "scripts" / "release.py"
CHANGELOG = """# Changelog

Intro.

## Unreleased

- next

## 0.3.0

- three

## 0.2.0

- two
"""


def test_the_newest_version_heading_is_the_release_and_unreleased_is_not() -> None:
    assert newest_version(CHANGELOG) == "0.3.0"
    assert sections(CHANGELOG) == {"0.3.0": "- three\n", "0.2.0": "- two\n"}


def test_a_version_without_its_tag_is_to_be_tagged_once() -> None:
    assert tag_to_create(CHANGELOG, {"v0.2.0"}) == "v0.3.0"
    assert tag_to_create(CHANGELOG, {"v0.2.0", "v0.3.0"}) is None
    assert tag_to_create(CHANGELOG, set()) == "v0.3.0"


def test_a_version_below_the_newest_tag_is_refused() -> None:
    with pytest.raises(ReleaseError, match=r"0\.3\.0 is not above the newest tag v0\.10\.0"):
        tag_to_create(CHANGELOG, {"v0.10.0", "not-a-release"})


def test_a_heading_that_is_not_a_version_is_refused() -> None:
    with pytest.raises(ReleaseError, match=r"'## 0\.4' is neither"):
        sections(CHANGELOG.replace("## 0.3.0", "## 0.4"))


def test_this_changelog_names_every_release_a_migration_needs() -> None:
    """Copier runs a `version` migration only when an update crosses that tag."""
    versions = sections((TEMPLATE_ROOT / "CHANGELOG.md").read_text())
    migrations = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())["_migrations"]
    needed = {str(step["version"]) for step in migrations if "version" in step}
    assert needed
    assert needed <= set(versions)


def run_script(repository: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--changelog", str(repository / "CHANGELOG.md"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_workflow_steps_tag_a_new_heading_and_then_nothing(tmp_path: Path) -> None:
    """What release.yml runs, on a repository with git tags: a plan, then the notes."""
    repository = tmp_path / "template"
    repository.mkdir()
    (repository / "CHANGELOG.md").write_text(CHANGELOG)
    new_repository(repository, "0.2.0")
    git(repository, "tag", "v0.2.0")

    plan = run_script(repository, "plan")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout == "tag=v0.3.0\n"
    notes = run_script(repository, "notes", "v0.3.0")
    assert notes.stdout == "- three\n"

    git(repository, "tag", "v0.3.0")
    assert run_script(repository, "plan").stdout == "tag=\n"

    missing = run_script(repository, "notes", "v9.9.9")
    assert missing.returncode == 1
    assert "no section for v9.9.9" in missing.stderr
