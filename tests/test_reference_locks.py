"""New services start on the versions this suite tested: the reference locks (reference/)."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest
from lockfiles import read_pins
from reference_locks import REFERENCE_DIR, departures
from support import (
    DEFAULT_CHOICES,
    DEFAULT_PYTHON,
    LOCK_NAMES,
    answers_for,
    copy_of_this_checkout,
    fake_wheel,
    new_repository,
    render,
    run,
    task_environment,
)


def test_reference_locks_are_current(tmp_path: Path) -> None:
    """Every package any answer set can ask for is in the lock of every offered Python."""
    copy = copy_of_this_checkout(tmp_path / "template")
    run([sys.executable, "reference/refresh.py", "--check"], copy)


@pytest.mark.parametrize("lock_tool", ["uv", "pip-tools"])
def test_a_copy_gets_the_tested_versions_when_the_index_has_newer_ones(
    locked, machine_local_sources: dict[str, str], tmp_path: Path, lock_tool: str
) -> None:
    """Two copies of one template commit lock the same files, whatever was released between
    them: here the index also serves an idna newer than any the suite has run."""
    answers = {"lock_tool": lock_tool}
    first = locked(**answers)
    newer = tmp_path / "newer"
    fake_wheel(newer, "idna", "99.0")
    index_moved_on = {**machine_local_sources, "PIP_FIND_LINKS": str(newer), "UV_FIND_LINKS": str(newer)}
    with task_environment(index_moved_on):
        second = render(tmp_path / "second", answers_for(**{**DEFAULT_CHOICES, **answers}), skip_tasks=False)

    reference = read_pins(REFERENCE_DIR / f"python{DEFAULT_PYTHON}.txt")
    assert read_pins(second / "requirements" / "base.txt")["idna"].version == reference["idna"].version
    for name in LOCK_NAMES:
        lock = f"requirements/{name}.txt"
        assert (second / lock).read_text() == (first / lock).read_text(), lock


@pytest.mark.parametrize("lock_tool", ["uv", "pip-tools"])
def test_a_version_the_index_lacks_is_resolved_and_named(
    machine_local_sources: dict[str, str], tmp_path: Path, capfd: pytest.CaptureFixture[str], lock_tool: str
) -> None:
    """A reference pin the index has not got gives way to a version it has, locked with its
    hashes and named. Which version the live index would offer instead is its own business,
    so a local folder serves the one the lock tool must take: newer than any real idna, and
    below 4, which requests asks for."""
    template = copy_of_this_checkout(tmp_path / "template")
    reference = template / "reference" / f"python{DEFAULT_PYTHON}.txt"
    reference.write_text(re.sub(r"^idna==\S+", "idna==0.0.1", reference.read_text(), flags=re.MULTILINE))
    new_repository(template, "a reference pin that no index has")
    offered = fake_wheel(tmp_path / "offered", "idna", "3.99")
    index_serves = {
        **machine_local_sources,
        "PIP_FIND_LINKS": str(offered.parent),
        "UV_FIND_LINKS": str(offered.parent),
    }

    with task_environment(index_serves):
        answers = answers_for("fastapi", "none", "none", lock_tool)
        project = render(tmp_path / "svc", answers, skip_tasks=False, src=template)
    output = capfd.readouterr().err

    locked = read_pins(project / "requirements" / "base.txt")["idna"]
    assert locked.version == "3.99"
    assert locked.hashes == [f"sha256:{hashlib.sha256(offered.read_bytes()).hexdigest()}"]
    assert "idna: 0.0.1 -> 3.99" in output
    assert "1 package(s) are not at the version the template tested" in output


def test_departures_name_moved_and_unknown_packages(tmp_path: Path) -> None:
    reference = tmp_path / "reference.txt"
    reference.write_text("idna==3.20 \\\n    --hash=sha256:aa\nsix==1.17.0\n")
    lock = tmp_path / "base.txt"
    lock.write_text(
        "IDNA==3.10 \\\n    --hash=sha256:bb\n    # via anyio\nsix==1.17.0\nzope.interface==8.0\n"
    )

    moved = [(d.name, d.tested, d.locked) for d in departures(reference, [lock, lock])]

    assert moved == [("idna", "3.20", "3.10"), ("zope-interface", None, "8.0")]
