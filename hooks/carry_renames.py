"""Carry a user's changes across files the template renamed (a copier `_migrations` step).

Copier's update does not follow renames: it deletes the old path (it is gone from the
template) and writes the new one fresh, so whatever the user had changed in the old
file would disappear from the working tree. Run after the update's merge, this puts the
user's version (from git HEAD, which the update requires to be clean) at the new path,
and rewrites imports of the old module in the project's own code.

Only for pure renames: the template must not change the content in the same release,
so that the user's version is the whole merge result (tests/test_update.py checks it).
Standard library only, like every hook.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def at_head(project: Path, path: str) -> str | None:
    completed = subprocess.run(
        ["git", "show", f"HEAD:{path}"], cwd=project, capture_output=True, text=True, check=False
    )
    return completed.stdout if completed.returncode == 0 else None


def tracked_python_files(project: Path) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.py"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [project / name for name in listed.split("\0") if name and (project / name).is_file()]


def carry_file(project: Path, old: str, new: str, modules: dict[str, str]) -> bool:
    """Put the user's version of `old` at `new`. True when it differed from the template's."""
    users = at_head(project, old)
    target = project / new
    if users is None or not target.exists():
        return False  # not in this project (e.g. an optional feature), or removed by the user
    users = rewrite_imports(users, modules)
    if (project / old).exists():
        (project / old).unlink()
    if users == target.read_text(encoding="utf-8"):
        return False
    target.write_text(users, encoding="utf-8")
    return True


def rewrite_imports(text: str, modules: dict[str, str]) -> str:
    for old, new in modules.items():
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return text


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", required=True, help="the template release that renamed them")
    parser.add_argument("--rename", nargs=2, action="append", default=[], metavar=("OLD", "NEW"))
    parser.add_argument("--module", nargs=2, action="append", default=[], metavar=("OLD", "NEW"))
    parser.add_argument("--project", type=Path, default=Path.cwd())
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    project = arguments.project.resolve()
    modules = dict(arguments.module)
    for old, new in arguments.rename:
        if carry_file(project, old, new, modules):
            say(f"template {arguments.release}: {old} is now {new}; your changes to it were carried over.")
        elif at_head(project, old) is not None:
            say(f"template {arguments.release}: {old} is now {new}.")
    for path in tracked_python_files(project):
        text = path.read_text(encoding="utf-8")
        rewritten = rewrite_imports(text, modules)
        if rewritten != text:
            path.write_text(rewritten, encoding="utf-8")
            say(f"template {arguments.release}: updated imports in {path.relative_to(project)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
