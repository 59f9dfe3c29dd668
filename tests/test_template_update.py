"""The template-update workflow's script (a generated service's tools/template_update.py),
run here against a template repository with real release tags: a service at an older
release, with the team's edits, ends on a branch whose commit is what `make
update-template` gives, pushed to a remote; a conflicting update becomes a draft that lists
the files. Only the workflow's GitHub API calls (gh pr create/edit, gh workflow run) are
not run here."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from support import TEMPLATE_ROOT, execute, git
from template_releases import release
from test_update import COPIER, PACKAGE, generate, make_update

SCRIPT = "tools/template_update.py"


def template_update(project: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """The script as the workflow runs it: its outputs are what $GITHUB_OUTPUT receives."""
    output = Path(tempfile.mkstemp(prefix="github-output-", dir=project.parent)[1])
    environment = {**os.environ, "COPIER": COPIER, "GITHUB_OUTPUT": str(output)}
    completed = execute([sys.executable, SCRIPT, *arguments], project, environment)
    return completed, outputs(output.read_text())


def outputs(text: str) -> dict[str, str]:
    """GitHub's output file: `name=value` lines, and `name<<DELIMITER` blocks."""
    found = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<")[0]:
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            found[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


def team_edits(project: Path) -> None:
    settings = project / "src" / PACKAGE / "settings.py"
    settings.write_text(settings.read_text() + "\n# tuned by the team\n")
    (project / "docs.md").write_text("Our notes.\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our work")


def test_a_release_arrives_on_a_pushed_branch_equal_to_make_update_template(
    tmp_path: Path, releases: Path
) -> None:
    project = generate(tmp_path / "service", releases, "v0.1.0")
    team_edits(project)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(project), str(remote))
    by_hand = tmp_path / "by-hand"
    git(tmp_path, "clone", "-q", str(project), str(by_hand))

    completed, said = template_update(project, "--push", str(remote))

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert said["updated"] == "true"
    assert said["draft"] == "false"
    assert said["title"] == "Template update: v0.1.0 to v0.2.0"
    body = Path(said["body-file"]).read_text()
    assert "from the template's v0.1.0 to v0.2.0" in body
    assert "`v0.2.0`" in body
    assert "Conflicts" not in body
    # What a person gets from `make update-template`, committed: the same tree, on top of
    # the team's commit, in the remote.
    by_hand_update = make_update(by_hand, "v0.2.0")
    assert by_hand_update.returncode == 0, by_hand_update.stdout + by_hand_update.stderr
    git(by_hand, "add", "--all")
    expected_tree = git(by_hand, "write-tree").strip()
    assert git(remote, "rev-parse", "template-update^{tree}").strip() == expected_tree
    assert git(remote, "rev-parse", "template-update~1") == git(project, "rev-parse", "main")
    assert git(remote, "log", "-1", "--format=%s", "template-update").strip() == said["title"]
    tree = git(project, "ls-tree", "-r", "--name-only", "template-update").split()
    assert f"src/{PACKAGE}/tasks.py" in tree  # the migration ran
    assert "docs.md" in tree
    assert git(project, "status", "--porcelain") == ""

    # At the newest release already: nothing to do, no pull request.
    git(project, "switch", "-q", "template-update")
    again, said_again = template_update(project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert said_again == {"updated": "false"}
    assert "at the template's newest release, v0.2.0" in again.stdout


def test_a_conflicting_release_gives_a_draft_that_lists_the_files_with_the_markers(
    tmp_path: Path, releases: Path
) -> None:
    readme_template = releases / "template/README.md.jinja"
    heading = "## First steps for a new team member"
    project = generate(tmp_path / "service", releases, "v0.1.0")
    readme_template.write_text(readme_template.read_text().replace(heading, "## First steps (0.3.0)"))
    release(releases, "v0.3.0")
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace(heading, "## Our onboarding"))
    git(project, "commit", "-q", "-am", "our wording")

    completed, said = template_update(project)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert said["draft"] == "true"
    assert said["title"] == "Template update: v0.1.0 to v0.3.0"
    body = Path(said["body-file"]).read_text()
    assert "this pull request stays a draft" in body
    assert re.search(r"^- `README\.md`$", body, re.MULTILINE), body
    assert "`v0.2.0`, `v0.3.0`" in body  # every release on the way
    # Nothing lost: both sides and the markers are in the branch's commit.
    committed = git(project, "show", "template-update:README.md")
    assert "<<<<<<< before updating" in committed
    assert "## Our onboarding" in committed
    assert "## First steps (0.3.0)" in committed
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""
    assert git(project, "status", "--porcelain") == ""


def test_the_body_links_each_release_of_a_template_on_github(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("template_update", TEMPLATE_ROOT / "template" / SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    said = script.notes("gh:acme/python-service-template", ["v0.2.0", "v0.10.1"])

    base = "https://github.com/acme/python-service-template"
    assert f"[v0.2.0]({base}/releases/tag/v0.2.0)" in said
    assert f"[CHANGELOG.md]({base}/blob/v0.10.1/CHANGELOG.md#0101)" in said
    for source in (f"{base}.git", "git@github.com:acme/python-service-template.git"):
        assert script.notes(source, ["v0.2.0"]) == script.notes("gh:acme/python-service-template", ["v0.2.0"])
