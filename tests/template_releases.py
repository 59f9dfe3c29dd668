"""This template as a git repository with releases, as users' services see it."""

from __future__ import annotations

import filecmp
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from support import TEMPLATE_ROOT, copy_of_this_checkout, git

SOURCE = "template/src/{{package_name}}/"
TASKS_TEMPLATES = [
    SOURCE + "{% if framework == 'fastapi' and worker == 'celery' %}tasks.py{% endif %}.jinja",
    SOURCE + "{% if framework == 'flask' and worker == 'celery' %}tasks.py{% endif %}.jinja",
    "template/tests/unit/{% if worker == 'celery' %}test_tasks.py{% endif %}.jinja",
]
APP_TEMPLATES = [
    SOURCE + "{% if framework == 'fastapi' %}app.py{% endif %}.jinja",
    SOURCE + "{% if framework == 'flask' %}app.py{% endif %}.jinja",
]


def release(template: Path, tag: str) -> None:
    git(template, "add", "-A")
    git(template, "commit", "-q", "--allow-empty", "-m", f"release {tag}")
    git(template, "tag", tag)


def as_0_1_0(template: Path) -> None:
    """Undo what 0.2.0 renamed: the /tasks routes lived in jobs.py."""
    for new in TASKS_TEMPLATES:
        source = template / new
        source.rename(source.with_name(source.name.replace("tasks.py", "jobs.py")))
    for path in APP_TEMPLATES:
        app = template / path
        old_import = "{{ package_name }}.jobs import"
        app.write_text(app.read_text().replace("{{ package_name }}.tasks import", old_import))


def template_releases(where: Path) -> Path:
    """This template as its own repository: v0.1.0 (before the rename), then v0.2.0 (now)."""
    template = copy_of_this_checkout(where / "template")
    git(template, "init", "-q", "-b", "main")
    as_0_1_0(template)
    release(template, "v0.1.0")
    for path in TASKS_TEMPLATES:
        old = template / path
        old.with_name(old.name.replace("tasks.py", "jobs.py")).unlink()
    for path in TASKS_TEMPLATES + APP_TEMPLATES:
        shutil.copy2(TEMPLATE_ROOT / path, template / path)
    release(template, "v0.2.0")
    return template


def differences(left: Path, right: Path, ignore: set[str]) -> list[str]:
    """Relative paths that differ between two trees (content or presence)."""
    found: list[str] = []

    def walk(comparison: filecmp.dircmp, prefix: str) -> None:
        for name in comparison.left_only + comparison.right_only + comparison.diff_files:
            if name not in ignore:
                found.append(prefix + name)
        for name, sub in comparison.subdirs.items():
            if name not in ignore:
                walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right, ignore=[".git", "__pycache__"]), "")
    return found


# The template as it was just before the `model` question came (the commit that added the
# CPU-sized servers): the release every service made before models were offered came from.
BEFORE_MODELS = "77fccea3273c311c6827d4d6750e70fc25105513"


def releases_before_and_with_models(where: Path) -> Path:
    """This template's repository as BEFORE_MODELS (v0.2.0), then as now (v0.3.0)."""
    template = where / "template"
    template.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(TEMPLATE_ROOT), "archive", BEFORE_MODELS], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as files:
        files.extractall(template, filter="data")
    git(template, "init", "-q", "-b", "main")
    release(template, "v0.2.0")
    for name in git(template, "ls-files", "-z").split("\0"):
        if name:
            (template / name).unlink()
    copy_of_this_checkout(template)
    release(template, "v0.3.0")
    return template
