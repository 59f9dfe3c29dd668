"""Every path of the template, and of what it generates, can be checked out on Windows and macOS.

git refuses to check out a path the file system refuses, and `copier copy gh:...` clones the
template first: one such path and the template cannot be used there at all.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from support import ALL_COMBINATIONS, TEMPLATE_ROOT, combination_id

# Windows refuses these characters and the control characters in a file name; macOS
# refuses ':' (Finder shows it as '/').
FORBIDDEN_CHARACTERS = re.compile(r'[<>:"|?*\\\x00-\x1f]')
# Windows refuses these device names, with any extension (nul.txt too).
RESERVED_NAMES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def portability_problems(paths: list[str]) -> list[str]:
    """What Windows or macOS would refuse in these relative, '/'-separated paths."""
    problems = []
    for path in paths:
        for part in path.split("/"):
            if FORBIDDEN_CHARACTERS.search(part):
                problems.append(f"{path}: {part!r} has a character Windows or macOS refuses")
            if RESERVED_NAMES.match(part):
                problems.append(f"{path}: {part!r} is a reserved device name on Windows")
            if part.endswith((" ", ".")):
                problems.append(f"{path}: {part!r} ends with a space or a dot, which Windows drops")
    # Both file systems ignore case by default: two such paths are one file there.
    seen: dict[str, str] = {}
    for path in paths:
        other = seen.setdefault(path.lower(), path)
        if other != path:
            problems.append(f"{path} and {other} differ only in case")
    return problems


def test_the_checks_catch_what_windows_refuses() -> None:
    refused = [
        'template/{% if worker == "celery" %}x.py{% endif %}.jinja',
        "template/a:b.txt",
        "template/aux.py",
        "template/name.",
        "template/README.md",
        "template/readme.md",
    ]

    assert len(portability_problems(refused)) == len(refused) - 1  # one per path, the pair once
    assert portability_problems(["template/{% if worker == 'celery' %}x.py{% endif %}.jinja"]) == []


def test_every_tracked_path_of_the_template_is_portable() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    paths = [path for path in listed.split("\0") if path]

    assert len(paths) > 50
    assert portability_problems(paths) == []


@pytest.mark.parametrize("combination", ALL_COMBINATIONS, ids=combination_id)
def test_every_generated_path_is_portable(rendered, combination: tuple[str, ...]) -> None:
    project: Path = rendered(*combination)
    paths = [path.relative_to(project).as_posix() for path in project.rglob("*")]

    assert portability_problems(paths) == []
