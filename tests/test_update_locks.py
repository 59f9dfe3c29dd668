"""`copier update` and the lock files: no lock (and no network) unless an .in changed,
exactly one re-lock of what changed, after the user's edits are merged back."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from copier import run_update
from lockfiles import read_pins
from support import (
    DEFAULT_PYTHON,
    OFFLINE,
    SERVICE_LOCKS,
    TEMPLATE_ROOT,
    answers_for,
    git,
    render,
    task_environment,
)
from template_releases import release

BASE_IN = "template/requirements/base.in.jinja"


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A copy of this template's working tree as its own git repository, released as v1."""
    template = tmp_path / "template"
    shutil.copytree(
        TEMPLATE_ROOT,
        template,
        ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"),
    )
    git(template, "init", "-q", "-b", "main")
    release(template, "v1")
    return template


@pytest.fixture
def project(tmp_path: Path, template_repo: Path) -> Path:
    """A service generated at v1 (uv: fast) and committed."""
    destination = render(
        tmp_path / "service",
        answers_for("fastapi", "postgresql", "none", "uv"),
        skip_tasks=False,
        src=template_repo,
        vcs_ref="v1",
    )
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "generated")
    return destination


def update(project: Path, vcs_ref: str, **answers: str) -> None:
    run_update(
        str(project), data=answers, defaults=True, overwrite=True, unsafe=True, quiet=True, vcs_ref=vcs_ref
    )


def release_adding_structlog(template_repo: Path) -> None:
    """Release v2 of the template, whose base.in asks for one more package."""
    template_in = template_repo / BASE_IN
    template_in.write_text(
        template_in.read_text().replace("pydantic-settings\n", "pydantic-settings\nstructlog\n")
    )
    release(template_repo, "v2")


def locks(project: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((project / "requirements").glob("*.txt"))}


def test_update_without_in_changes_does_not_lock_or_touch_the_network(
    project: Path, template_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    before = locks(project)
    readme = template_repo / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA line added by template v2.\n")
    release(template_repo, "v2")
    capfd.readouterr()

    with task_environment(OFFLINE):
        update(project, "v2")
    output = capfd.readouterr().err

    assert "A line added by template v2." in (project / "README.md").read_text()
    assert "no .in file changed" in output
    assert "locking" not in output
    assert "FAILED" not in output
    assert locks(project) == before


def test_changed_in_is_relocked_once_with_the_users_own_additions(
    project: Path, template_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The team added a dependency of its own...
    base_in = project / "requirements" / "base.in"
    base_in.write_text(base_in.read_text() + "rich\n")
    git(project, "commit", "-qam", "add rich")
    # ...and the template's next release adds one too.
    release_adding_structlog(template_repo)
    capfd.readouterr()

    update(project, "v2")
    output = capfd.readouterr().err

    merged = base_in.read_text().splitlines()
    assert "structlog" in merged
    assert "rich" in merged
    for name in SERVICE_LOCKS:
        assert output.count(f"locking requirements/{name}.in") == 1, output
        pins = read_pins(project / "requirements" / f"{name}.txt")
        assert "structlog" in pins
        assert "rich" in pins  # locked from the merged file, not the template's alone


def test_adding_the_worker_during_update_locks_celery(
    project: Path, template_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    release(template_repo, "v2")
    capfd.readouterr()

    update(project, "v2", worker="celery")
    output = capfd.readouterr().err

    assert (project / "src" / "orders_service" / "worker.py").is_file()
    assert output.count("locking requirements/base.in") == 1
    for name in SERVICE_LOCKS:
        assert "celery" in read_pins(project / "requirements" / f"{name}.txt")


def test_conflicted_in_is_left_for_the_user(
    project: Path, template_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base_in = project / "requirements" / "base.in"
    base_in.write_text(base_in.read_text().replace("fastapi\n", "fastapi==0.165.0\n"))
    git(project, "commit", "-qam", "pin fastapi")
    template_in = template_repo / BASE_IN
    template_in.write_text(template_in.read_text().replace("fastapi\n", "fastapi>=0.100\n"))
    release(template_repo, "v2")
    before = locks(project)
    capfd.readouterr()

    update(project, "v2")
    output = capfd.readouterr().err

    text = base_in.read_text()
    assert "<<<<<<< before updating" in text
    assert "fastapi==0.165.0" in text  # the user's line is kept
    assert "requirements/base.in has merge conflicts; not locked" in output
    assert "make lock" in output
    assert locks(project) == before


def test_update_keeps_the_users_pins_when_the_reference_moves(
    project: Path, template_repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The reference starts new services only: an update re-locks from the service's own pins."""
    ours = read_pins(project / "requirements" / "base.txt")["idna"].version
    reference = template_repo / "reference" / f"python{DEFAULT_PYTHON}.txt"
    reference.write_text(re.sub(r"^idna==\S+", "idna==3.10", reference.read_text(), flags=re.MULTILINE))
    release_adding_structlog(template_repo)
    capfd.readouterr()

    update(project, "v2")
    output = capfd.readouterr().err

    assert output.count("locking requirements/base.in") == 1
    for name in SERVICE_LOCKS:
        pins = read_pins(project / "requirements" / f"{name}.txt")
        assert "structlog" in pins
        assert pins["idna"].version == ours
