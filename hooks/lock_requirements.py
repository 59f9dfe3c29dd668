"""Compile requirements/*.in into hash-pinned requirements/*.txt (copier task and migration).

Run by copier after `copier copy` (lock everything) and after the merge of
`copier update` (`--only-changed`: lock what changed, nothing else, no network when
nothing did). A failure never fails copier: copier would delete a freshly generated
project, so the project is kept and the message says how to finish.
Standard library only: it runs on copier's interpreter, however copier was installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lock_tools import LockError, LockTool, get_lock_tool
from requirement_files import (
    RequirementFile,
    answer_at_head,
    discover,
    has_conflict_markers,
    in_stages,
    needing_lock,
)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", choices=["pip-tools", "uv"], required=True)
    parser.add_argument("--python", required=True, help="target Python version, e.g. 3.13")
    parser.add_argument("--only-changed", action="store_true", help="after copier update")
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--folder", default="requirements", help="where the .in files are")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 on failure (make lock, pre-commit; not copier)"
    )
    return parser.parse_args(argv)


def select_files(arguments: argparse.Namespace, files: list[RequirementFile]) -> list[RequirementFile]:
    project = arguments.project
    if not arguments.only_changed:
        return files
    conflicted = {f.source for f in files if has_conflict_markers(project, f)}
    blocked = set(conflicted)
    for requirement in files:  # files are in dependency order
        if requirement.depends_on & blocked:
            blocked.add(requirement.source)
    if conflicted:
        names = ", ".join(str(p) for p in sorted(conflicted))
        say(
            f"requirements: {names} has merge conflicts from the update; not locked.\n"
            f"  Resolve the conflict markers, then run `make lock`."
        )
    # A new Python version or lock tool invalidates every pin, even with the same .in.
    answers_changed = any(
        answer_at_head(project, arguments.answers_file, key) not in (None, value)
        for key, value in (("python_version", arguments.python), ("lock_tool", arguments.tool))
    )
    candidates = [f for f in files if f.source not in blocked]
    return needing_lock(project, candidates, everything=answers_changed)


def seed_from_constraints(project: Path, requirement: RequirementFile) -> bool:
    """Start a new lock from the lock it is constrained by (dev.txt from base.txt).

    Both tools reuse the pins and hashes of an existing output file, and -c forces the
    same versions anyway, so the result is the same as from scratch (a test checks
    this), only several times faster with pip-compile.
    """
    output = project / requirement.output
    seeds = [project / c for c in requirement.constraints if (project / c).exists()]
    if output.exists() or not seeds:
        return False
    shutil.copyfile(seeds[0], output)
    return True


def lock(tool: LockTool, project: Path, requirement: RequirementFile) -> float:
    started = time.perf_counter()
    seeded = seed_from_constraints(project, requirement)
    completed = subprocess.run(
        tool.compile_command(requirement.source.as_posix(), requirement.output.as_posix()),
        cwd=project,
        env=tool.environment(),
        check=False,
    )
    if completed.returncode != 0:
        if seeded:  # never leave base's pins posing as this file's lock
            (project / requirement.output).unlink(missing_ok=True)
        raise LockError(f"{requirement.source} could not be compiled (see the {tool.name} output above)")
    return time.perf_counter() - started


def lock_all(tool: LockTool, project: Path, selected: list[RequirementFile], python: str) -> None:
    """Lock stage after stage; the files of a stage (dev and prod, both constrained by
    base only) are compiled at the same time."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for stage in in_stages(selected):
            for requirement in stage:
                say(f"requirements: locking {requirement.source} for Python {python} with {tool.name} ...")
            runs = {r: pool.submit(lock, tool, project, r) for r in stage}
            for requirement, run in runs.items():
                say(f"requirements: wrote {requirement.output} in {run.result():.1f} s")


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    project = arguments.project.resolve()
    try:
        selected = select_files(arguments, discover(project, arguments.folder))
        if not selected:
            say("requirements: no .in file changed; lock files kept as they are.")
            return 0
        tool = get_lock_tool(arguments.tool, arguments.python)
        lock_all(tool, project, selected, arguments.python)
    except (LockError, OSError, ValueError) as error:
        say(
            "\n"
            f"!! Locking requirements FAILED: {error}\n"
            f"!! The project in {project} is complete; only requirements/*.txt are missing or stale.\n"
            "!! Fix the cause above (network, package index, Python version), then run:\n"
            f"!!     cd {project} && make lock\n"
        )
        return 1 if arguments.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
