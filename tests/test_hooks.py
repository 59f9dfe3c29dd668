"""The lock step's building blocks, tested directly: the hook's (hooks/) and those of the
lock command every generated project has (template/tools/)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import lock
import lock_requirements
import pytest
from find_python import find_python, interpreter_version, pinned_version
from lock_requirements import answer_at_head
from lock_tools import provision
from requirement_files import discover, in_stages, needing_lock
from support import TEMPLATE_ROOT, execute, git, python_or_fail


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """base <- dev, base <- prod, prod <- extra; committed with lock files."""
    write(tmp_path / "requirements/base.in", "fastapi\n")
    write(tmp_path / "requirements/dev.in", "-c base.txt\n-r base.in\npytest\n")
    write(tmp_path / "requirements/prod.in", "-c base.txt\n--requirement=base.in\ngunicorn\n")
    write(tmp_path / "requirements/zz-extra.in", "-r prod.in\nsentry-sdk\n")
    for name in ("base", "dev", "prod", "zz-extra"):
        write(tmp_path / f"requirements/{name}.txt", "# locked\n")
    write(tmp_path / ".copier-answers.yml", "_commit: v1\nlock_tool: uv\npython_version: '3.13'\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def names(files: list) -> list[str]:
    return [f.source.name for f in files]


def test_files_are_ordered_after_what_they_reference(project: Path) -> None:
    files = discover(project)

    order = names(files)
    assert order.index("base.in") < order.index("dev.in")
    assert order.index("base.in") < order.index("prod.in")
    assert order.index("prod.in") < order.index("zz-extra.in")


def test_stages_group_files_that_can_be_locked_together(project: Path) -> None:
    stages = [names(stage) for stage in in_stages(discover(project))]

    assert stages == [["base.in"], ["dev.in", "prod.in"], ["zz-extra.in"]]


def test_constraint_locks_are_known_per_file(project: Path) -> None:
    constraints = {f.source.name: f.constraints for f in discover(project)}

    assert constraints["dev.in"] == (Path("requirements/base.txt"),)
    assert constraints["prod.in"] == (Path("requirements/base.txt"),)
    assert constraints["zz-extra.in"] == ()  # -r only: no lock to start from


def test_failed_lock_removes_the_seed_it_started_from(project: Path) -> None:
    (project / "requirements/dev.txt").unlink()
    dev = next(f for f in discover(project) if f.source.name == "dev.in")

    with pytest.raises(lock.LockError, match=r"requirements/dev\.in could not be compiled"):
        lock.lock_one(["false"], project, dev)
    assert not (project / "requirements/dev.txt").exists()
    assert (project / "requirements/base.txt").exists()


def test_reference_cycle_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "requirements/a.in", "-r b.in\n")
    write(tmp_path / "requirements/b.in", "-c a.txt\n")

    with pytest.raises(ValueError, match="cycle"):
        discover(tmp_path)


def test_hook_reports_a_cycle_instead_of_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # A crash would make copier delete the project it just generated.
    shutil.copytree(TEMPLATE_ROOT / "template" / "tools", tmp_path / "tools")
    write(tmp_path / ".python-version", "3.13\n")
    write(tmp_path / "requirements/a.in", "-r b.in\n")
    write(tmp_path / "requirements/b.in", "-c a.txt\n")
    monkeypatch.chdir(tmp_path)

    assert lock.main(["--tool=uv"]) == 1
    assert "requirement files reference each other in a cycle" in capfd.readouterr().err
    assert lock_requirements.main(["--tool=uv", "--python=3.13"]) == 0
    error = capfd.readouterr().err
    assert "requirement files reference each other in a cycle" in error
    assert "Locking requirements FAILED" in error
    assert f"cd {tmp_path} && make lock" in error


def test_nothing_to_lock_when_nothing_changed(project: Path) -> None:
    assert needing_lock(project, discover(project)) == []


def test_changed_base_relocks_it_and_everything_downstream(project: Path) -> None:
    write(project / "requirements/base.in", "fastapi\nhttpx\n")

    assert names(needing_lock(project, discover(project))) == [
        "base.in",
        "dev.in",
        "prod.in",
        "zz-extra.in",
    ]


def test_changed_leaf_relocks_only_itself(project: Path) -> None:
    write(project / "requirements/dev.in", "-c base.txt\n-r base.in\npytest\nruff\n")

    assert names(needing_lock(project, discover(project))) == ["dev.in"]


def test_missing_lock_and_new_in_are_locked(project: Path) -> None:
    (project / "requirements/prod.txt").unlink()
    write(project / "requirements/docs.in", "mkdocs\n")

    assert names(needing_lock(project, discover(project))) == [
        "docs.in",
        "prod.in",
        "zz-extra.in",
    ]


def test_committed_answers_are_read_back(project: Path) -> None:
    assert answer_at_head(project, ".copier-answers.yml", "python_version") == "3.13"
    assert answer_at_head(project, ".copier-answers.yml", "lock_tool") == "uv"
    assert answer_at_head(project, ".copier-answers.yml", "missing") is None


def test_current_python_is_found_and_a_missing_one_is_not() -> None:
    current = f"{sys.version_info[0]}.{sys.version_info[1]}"

    python = find_python(current)
    assert python is not None
    assert interpreter_version([python]) == current
    assert find_python("3.99") is None


@pytest.mark.parametrize(
    ("text", "version"),
    [("3.13\n", "3.13"), ("3.12.4\n", "3.12"), ("# pinned\n\n3.14  # newest\n3.13\n", "3.14")],
)
def test_python_version_file_is_read_as_pyenv_writes_it(tmp_path: Path, text: str, version: str) -> None:
    write(tmp_path / ".python-version", text)

    assert pinned_version(tmp_path) == version


def test_unreadable_python_version_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.python-version cannot be read"):
        pinned_version(tmp_path)
    write(tmp_path / ".python-version", "system\n")
    with pytest.raises(ValueError, match=r"should name a Python version such as 3\.13"):
        pinned_version(tmp_path)


def test_a_broken_candidate_is_not_trusted(tmp_path: Path) -> None:
    # Like a pyenv shim for a version that is installed but not selected.
    shim = write(
        tmp_path / "python3.12", "#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n"
    )
    shim.chmod(0o755)

    assert interpreter_version([str(shim)]) is None


def test_provisioned_tool_is_cached_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PST_CACHE_DIR", str(tmp_path / "cache"))

    python = provision("uv", sys.executable)
    marker = python.parent.parent / ".complete"
    first = marker.stat().st_mtime_ns

    assert subprocess.run(
        [str(python), "-m", "uv", "--version"], capture_output=True, text=True, check=True
    ).stdout.startswith("uv ")
    assert provision("uv", sys.executable) == python
    assert marker.stat().st_mtime_ns == first
    assert [p.name for p in (tmp_path / "cache" / "tools").iterdir()] == [python.parent.parent.name]


def test_tools_run_on_the_oldest_python_that_may_start_them(project: Path) -> None:
    """`make sync` starts tools/find_python.py with whatever python3 the machine has
    (3.9 on macOS), and copier (3.9+) starts tools/lock.py to see what needs a lock."""
    oldest = python_or_fail("3.9")
    shutil.copytree(TEMPLATE_ROOT / "template" / "tools", project / "tools")
    write(project / ".python-version", "3.13\n")

    found = execute([oldest, "tools/find_python.py"], project)
    assert found.returncode in (0, 1), found.stderr
    assert "Traceback" not in found.stderr
    if found.returncode == 0:
        assert interpreter_version([found.stdout.strip()]) == "3.13"
    listing = execute([oldest, "tools/lock.py", "--tool=uv", "--dry-run"], project)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split() == [
        f"requirements/{name}.in" for name in ("base", "dev", "prod", "zz-extra")
    ]


FAKE_TOOL = """
import pathlib, sys, time
log = pathlib.Path(sys.argv[0]).parent.parent / "runs.log"
output = sys.argv[sys.argv.index("--output-file") + 1]
started = time.monotonic()
time.sleep(0.5)
pathlib.Path(output).write_text("# locked\\n")
with log.open("a") as runs:
    runs.write(f"{output} {started} {time.monotonic()}\\n")
"""


def overlapping_runs(project: Path, tool: str, module: str, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Lock `project` with a stand-in for the tool's module; whether two compiles overlapped."""
    fake = project.parent / f"fake-{tool}"
    write(fake / module / "__init__.py", "")
    write(fake / module / "__main__.py", FAKE_TOOL)
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.chdir(project)
    write(project / ".python-version", f"{sys.version_info[0]}.{sys.version_info[1]}\n")

    assert lock.main([f"--tool={tool}"]) == 0
    lines = (fake / "runs.log").read_text().splitlines()
    runs = sorted((float(start), float(end)) for _, start, end in map(str.split, lines))
    assert len(runs) == 4
    return any(next_start < end for (_, end), (next_start, _) in itertools.pairwise(runs))


def test_pip_compile_runs_the_files_of_a_stage_at_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert overlapping_runs(project, "pip-tools", "piptools", monkeypatch)


def test_uv_runs_one_file_at_a_time(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """uv is parallel inside; two at once only add concurrent DNS lookups, which some
    resolvers drop: each such loss stalled a copy for glibc's 5 s retry."""
    assert not overlapping_runs(project, "uv", "uv", monkeypatch)
