"""`copier update` between real template releases (git repos tagged v0.1.0, v0.2.0, v0.3.0):
a clean update equals a fresh copy, user edits survive, conflicts are loud, and the 0.2.0
migration carries user changes across the jobs.py -> tasks.py rename."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from copier import run_update
from lockfiles import read_pins, required_names
from support import (
    DEFAULT_PYTHON,
    LOCK_NAMES,
    MODEL_LOCK_NAMES,
    answers_for,
    execute,
    git,
    new_repository,
    render,
)
from template_releases import differences, release, releases_before_and_with_models
from test_platforms import failures, service_checks

COPIER = str(Path(sys.executable).with_name("copier"))
ANSWERS = answers_for("fastapi", "postgresql", "celery", "uv")
PACKAGE = "orders_service"


def generate(destination: Path, template: Path, vcs_ref: str) -> Path:
    render(destination, ANSWERS, skip_tasks=False, src=template, vcs_ref=vcs_ref)
    return new_repository(destination, f"generated at {vcs_ref}")


def make_update(project: Path, vcs_ref: str) -> subprocess.CompletedProcess[str]:
    return execute(
        ["make", "update-template", f"COPIER={COPIER}", f"COPIER_ARGS=--vcs-ref {vcs_ref} --defaults"],
        project,
    )


def test_update_without_local_edits_equals_a_fresh_copy(tmp_path: Path, releases: Path) -> None:
    project = generate(tmp_path / "updated", releases, "v0.1.0")
    assert (project / f"src/{PACKAGE}/jobs.py").exists()

    run_update(str(project), defaults=True, overwrite=True, unsafe=True, quiet=True, vcs_ref="v0.2.0")

    fresh = render(tmp_path / "fresh", ANSWERS, skip_tasks=False, src=releases, vcs_ref="v0.2.0")
    assert differences(project, fresh, ignore={".copier-answers.yml"}) == []
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v0.2.0"
    assert not (project / f"src/{PACKAGE}/jobs.py").exists()


def test_migration_carries_user_changes_across_the_rename(tmp_path: Path, releases: Path) -> None:
    project = generate(tmp_path / "service", releases, "v0.1.0")
    package = project / "src" / PACKAGE
    # The user's own work at 0.1.0: an endpoint in jobs.py, a test, a module importing
    # it, and a change to a file the template leaves alone in 0.2.0.
    jobs = package / "jobs.py"
    jobs.write_text(jobs.read_text() + '\n\ndef users_helper() -> str:\n    return "mine"\n')
    test_jobs = project / "tests/unit/test_jobs.py"
    test_jobs.write_text(test_jobs.read_text() + "\n\ndef test_users_own() -> None:\n    assert True\n")
    reports = package / "reports.py"
    reports.write_text(f"from {PACKAGE}.jobs import users_helper\n\nREPORT = users_helper()\n")
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\n# tuned by the team\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our work")

    completed = make_update(project, "v0.2.0")

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    carried = f"src/{PACKAGE}/jobs.py is now src/{PACKAGE}/tasks.py; your changes to it were carried over"
    assert carried in output
    assert not jobs.exists()
    assert not test_jobs.exists()
    assert 'return "mine"' in (package / "tasks.py").read_text()
    assert "def test_users_own" in (project / "tests/unit/test_tasks.py").read_text()
    assert reports.read_text().startswith(f"from {PACKAGE}.tasks import users_helper")
    assert f"from {PACKAGE}.tasks import router" in (package / "app.py").read_text()
    assert settings.read_text().endswith("# tuned by the team\n")
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""
    for source in project.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")


def test_without_the_migration_the_users_changes_would_vanish(tmp_path: Path, releases: Path) -> None:
    """Why 0.2.0 needs a migration: copier's merge alone drops edits to a renamed file."""
    copier_yml = releases / "copier.yml"
    config = yaml.safe_load(copier_yml.read_text())
    config["_migrations"] = [m for m in config["_migrations"] if "version" not in m]
    copier_yml.write_text(yaml.safe_dump(config, sort_keys=False))
    git(releases, "tag", "--delete", "v0.2.0")
    release(releases, "v0.2.0")
    project = generate(tmp_path / "service", releases, "v0.1.0")
    jobs = project / "src" / PACKAGE / "jobs.py"
    jobs.write_text(jobs.read_text() + '\n\ndef users_helper() -> str:\n    return "mine"\n')
    git(project, "commit", "-q", "-am", "our work")

    make_update(project, "v0.2.0")

    assert not jobs.exists()
    assert 'return "mine"' not in (project / "src" / PACKAGE / "tasks.py").read_text()


def test_conflicting_edit_keeps_both_sides_and_fails_loudly(tmp_path: Path, releases: Path) -> None:
    project = generate(tmp_path / "service", releases, "v0.2.0")
    readme_template = releases / "template/README.md.jinja"
    readme_template.write_text(
        readme_template.read_text().replace(
            "## First steps for a new team member", "## First steps (template 0.3.0)"
        )
    )
    release(releases, "v0.3.0")
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("## First steps for a new team member", "## Our onboarding"))
    settings = project / "src" / PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + "\n# tuned by the team\n")
    git(project, "commit", "-q", "-am", "our wording")

    completed = make_update(project, "v0.3.0")

    assert completed.returncode != 0
    assert "The update conflicts with your changes in:\n    README.md" in completed.stderr
    text = readme.read_text()
    assert "<<<<<<< before updating" in text
    assert "## Our onboarding" in text
    assert "## First steps (template 0.3.0)" in text
    assert ">>>>>>> after updating" in text
    assert settings.read_text().endswith("# tuned by the team\n")
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v0.3.0"


def test_update_template_refuses_a_dirty_tree(tmp_path: Path, releases: Path) -> None:
    project = generate(tmp_path / "service", releases, "v0.1.0")
    (project / "notes.txt").write_text("not committed yet\n")

    completed = make_update(project, "v0.2.0")

    assert completed.returncode == 2
    assert "commit or stash your changes first" in completed.stderr
    assert (project / f"src/{PACKAGE}/jobs.py").exists()


def test_update_adds_the_deployment_targets_and_tracing_a_service_asks_for(
    tmp_path: Path, releases: Path
) -> None:
    project = generate(tmp_path / "updated", releases, "v0.2.0")
    assert not (project / "deploy").exists()
    assert not (project / "src" / PACKAGE / "tracing.py").exists()
    targets = {"deploy_targets": ["kubernetes", "swarm"], "tracing": True}

    run_update(
        str(project), data=targets, defaults=True, overwrite=True, unsafe=True, quiet=True, vcs_ref="v0.2.0"
    )

    fresh = render(
        tmp_path / "fresh", {**ANSWERS, **targets}, skip_tasks=False, src=releases, vcs_ref="v0.2.0"
    )
    locks = {f"{name}.txt" for name in LOCK_NAMES}
    assert differences(project, fresh, ignore={".copier-answers.yml", *locks}) == []
    # The update re-locked what tracing added. A fresh copy starts from the template's
    # reference lock, while the update takes the index's newest releases of the packages new
    # to the service, so the two may differ in versions, and in the dependencies those
    # versions bring. What holds whatever the index serves: each .in's packages are pinned,
    # with hashes, and every lock installs with every hash required (nothing left out).
    for name in LOCK_NAMES:
        pins = read_pins(project / "requirements" / f"{name}.txt")
        assert required_names(project / "requirements" / f"{name}.in") <= pins.keys(), name
        assert all(pin.hashes for pin in pins.values()), name
    assert failures(service_checks(project / "requirements"), DEFAULT_PYTHON, tmp_path / "target") == []
    assert (project / "deploy" / "swarm" / "stack.yaml").is_file()
    assert (project / "deploy" / "kubernetes" / "overlays" / "production" / "kustomization.yaml").is_file()
    assert (project / "src" / PACKAGE / "tracing.py").is_file()
    # The lock step ran after the merge: the new packages are locked, with hashes.
    assert "opentelemetry-sdk==" in (project / "requirements" / "base.txt").read_text()


def test_update_from_the_release_before_models_adds_a_model_and_keeps_the_users_changes(
    tmp_path: Path,
) -> None:
    """A service made before the `model` question existed asks for one on update: it gets
    what a new service with a model gets, its locks take the runtime and the training lock
    (installable everywhere a model is promised), and its own changes stay."""
    releases = releases_before_and_with_models(tmp_path)
    project = generate(tmp_path / "updated", releases, "v0.2.0")
    assert not (project / "model").exists()
    settings = project / "src" / PACKAGE / "settings.py"
    edited = settings.read_text().replace('log_level: str = "INFO"', 'log_level: str = "WARNING"')
    assert edited != settings.read_text()
    settings.write_text(edited)
    git(project, "commit", "-qam", "our log level")

    asked = {"model": "onnx"}
    run_update(
        str(project), data=asked, defaults=True, overwrite=True, unsafe=True, quiet=True, vcs_ref="v0.3.0"
    )

    fresh = render(
        tmp_path / "fresh", {**ANSWERS, "model": "onnx"}, skip_tasks=False, src=releases, vcs_ref="v0.3.0"
    )
    locks = {f"{name}.txt" for name in MODEL_LOCK_NAMES}
    assert differences(project, fresh, ignore={".copier-answers.yml", "settings.py", *locks}) == []
    assert settings.read_text() == (fresh / "src" / PACKAGE / "settings.py").read_text().replace(
        'log_level: str = "INFO"', 'log_level: str = "WARNING"'
    )
    for name in MODEL_LOCK_NAMES:
        pins = read_pins(project / "requirements" / f"{name}.txt")
        assert required_names(project / "requirements" / f"{name}.in") <= pins.keys(), name
        assert all(pin.hashes for pin in pins.values()), name
    assert "onnxruntime==" in (project / "requirements" / "prod.txt").read_text()
    assert "scikit-learn==" in (project / "requirements" / "train.txt").read_text()
    assert failures(service_checks(project / "requirements"), DEFAULT_PYTHON, tmp_path / "target") == []
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["model"] == "onnx"
