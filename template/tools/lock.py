"""Compile requirements/*.in into hash-pinned requirements/*.txt: this project's one lock command.

`make lock`, `make upgrade`, `make upgrade-package`, `make lock-check` (run by pre-commit and
CI) and the template's copier hook all run this file, so they lock the same files the same
way. Every requirements/*.in is locked, a new one too, in dependency order: base.in before
the files that say `-c base.txt`, and (with pip-compile) the files of one stage at the same time.

    python tools/lock.py --tool uv                   # lock every .in
    python tools/lock.py --tool uv --upgrade         # the newest versions the .in files allow
    python tools/lock.py --tool uv --upgrade-package fastapi
    python tools/lock.py --tool uv --check           # exit 1 if a lock file was stale
    python tools/lock.py --tool uv --only-changed    # the .in files changed since the last commit
    python tools/lock.py --tool uv --seed FILE       # start new lock files from FILE's pins

The lock tool runs on --tool-python (default: the interpreter running this file), where
pip-tools or uv must be installed; locks are for the Python version in .python-version.
Standard library only, Python 3.9 or newer.
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

from find_python import VERSION_FILE, pinned_version
from requirement_files import (
    RequirementFile,
    discover,
    has_conflict_markers,
    in_stages,
    needing_lock,
)

# What a developer runs again; both tools write it into the header of every lock file.
LOCK_COMMAND = "make lock"
# Anything machine-local (file:// indexes, local find-links, trusted hosts from pip.conf)
# stays out of the lock files.
PIP_COMPILE = (
    "-m",
    "piptools",
    "compile",
    "--quiet",
    "--generate-hashes",
    "--allow-unsafe",
    "--strip-extras",
    "--no-emit-index-url",
    "--no-emit-find-links",
    "--no-emit-trusted-host",
)
# uv resolves for any version; without --no-python-downloads it would fetch one first.
# --no-strip-markers keeps a requirement's platform condition in the lock (pip-compile
# keeps those of the .in files), so one lock installs on every platform it promises.
UV_COMPILE = (
    "-m",
    "uv",
    "pip",
    "compile",
    "--quiet",
    "--no-python-downloads",
    "--generate-hashes",
    "--strip-extras",
    "--no-strip-markers",
)
MODULES = {"pip-tools": "piptools", "uv": "uv"}
# Prints "X.Y True" when the module named by its argument can be imported.
_TOOL_PROBE = (
    "import importlib.util, sys; "
    "print('%d.%d' % sys.version_info[:2], importlib.util.find_spec(sys.argv[1]) is not None)"
)


class LockError(Exception):
    """Locking cannot go on; the message says why and what to do."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tool", choices=sorted(MODULES), required=True)
    parser.add_argument(
        "--tool-python", default=sys.executable, help="interpreter with the lock tool installed"
    )
    parser.add_argument("--folder", default="requirements", help="where the .in files are")
    upgrade = parser.add_mutually_exclusive_group()
    upgrade.add_argument(
        "--upgrade", action="store_true", help="newest versions the .in files allow"
    )
    upgrade.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    parser.add_argument("--check", action="store_true", help="exit 1 if any lock file changed")
    parser.add_argument(
        "--only-changed",
        action="store_true",
        help="only .in files changed since the last commit, new ones, and the files that use them",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the .in files that would be locked, lock none"
    )
    parser.add_argument(
        "--seed",
        type=Path,
        metavar="FILE",
        help="a lock whose pins (and hashes) new lock files start from; the copier hook passes "
        "the versions the template tested",
    )
    return parser.parse_args(argv)


def compile_command(tool: str, tool_python: str, python_version: str) -> list[str]:
    """The compile command, once it is known to run and to lock for `python_version`."""
    probe = subprocess.run(
        [tool_python, "-c", _TOOL_PROBE, MODULES[tool]], capture_output=True, text=True, check=False
    )
    found_version, _, importable = probe.stdout.strip().partition(" ")
    if probe.returncode != 0:
        raise LockError(f"{tool_python} does not run")
    if tool == "pip-tools" and found_version != python_version:
        raise LockError(
            f"the locks are for Python {python_version} ({VERSION_FILE}), but {tool_python} is "
            f"Python {found_version}, and pip-compile resolves for the Python it runs on. "
            "Recreate the venv: rm -rf .venv && make sync"
        )
    if importable != "True":
        raise LockError(f"{tool} is not installed for {tool_python}: `make lock` installs it")
    if tool == "uv":
        return [tool_python, *UV_COMPILE, "--python-version", python_version]
    return [tool_python, *PIP_COMPILE]


def plant_seed(project: Path, requirement: RequirementFile, seed: Path | None) -> bool:
    """Start a new lock file from `seed`, or else from the lock it is constrained by
    (dev.txt from base.txt).

    Both tools keep the pins of an existing output file that still satisfy the .in file,
    drop the rest, and pip-compile reuses their hashes instead of downloading every file
    to hash it. From base.txt (which -c forces anyway) the result is what a lock from
    scratch gives, several times faster; from a seed it is the seed's versions wherever
    they fit, and the tool's own choice elsewhere.
    """
    output = project / requirement.output
    seeds = [seed] if seed else [project / c for c in requirement.constraints]
    seeds = [path for path in seeds if path.exists()]
    if output.exists() or not seeds:
        return False
    shutil.copyfile(seeds[0], output)
    return True


def compile_environment() -> dict[str, str]:
    command = {"CUSTOM_COMPILE_COMMAND": LOCK_COMMAND, "UV_CUSTOM_COMPILE_COMMAND": LOCK_COMMAND}
    return {**os.environ, **command}


def lock_one(
    command: list[str], project: Path, requirement: RequirementFile, seed: Path | None = None
) -> float:
    started = time.perf_counter()
    seeded = plant_seed(project, requirement, seed)
    completed = subprocess.run(
        [*command, "--output-file", requirement.output.as_posix(), requirement.source.as_posix()],
        cwd=project,
        env=compile_environment(),
        check=False,
    )
    if completed.returncode != 0:
        if seeded:  # never leave a seed posing as this file's lock
            (project / requirement.output).unlink()
        raise LockError(
            f"{requirement.source.as_posix()} could not be compiled (see the output above)"
        )
    return time.perf_counter() - started


def lock_all(
    command: list[str],
    project: Path,
    selected: list[RequirementFile],
    label: str,
    *,
    parallel: bool,
    seed: Path | None = None,
) -> None:
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) if parallel else 1) as pool:
        for stage in in_stages(selected):
            for requirement in stage:
                say(f"requirements: locking {requirement.source.as_posix()} {label} ...")
            runs = {
                requirement: pool.submit(lock_one, command, project, requirement, seed)
                for requirement in stage
            }
            for requirement, run in runs.items():
                say(f"requirements: wrote {requirement.output.as_posix()} in {run.result():.1f} s")


def without_conflicts(
    project: Path, files: list[RequirementFile]
) -> tuple[list[RequirementFile], list[RequirementFile]]:
    """(lockable, conflicted): an .in with merge conflict markers, and every file that
    depends on it, waits until the markers are resolved."""
    conflicted = [f for f in files if has_conflict_markers(project, f)]
    blocked = {f.source for f in conflicted}
    lockable = []
    for requirement in files:  # in dependency order
        if requirement.source in blocked or requirement.depends_on & blocked:
            blocked.add(requirement.source)
        else:
            lockable.append(requirement)
    return lockable, conflicted


def report_stale(changed: list[Path]) -> None:
    for output in changed:
        message = (
            f"{output.as_posix()} did not match its .in file: "
            f"run `{LOCK_COMMAND}` and commit the result"
        )
        if os.environ.get("GITHUB_ACTIONS") == "true":
            print(f"::error file={output.as_posix()}::{message}", flush=True)
        say(f"error: {message} (it is re-locked now).")


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    project = Path.cwd()
    try:
        python_version = pinned_version(project)
        files = discover(project, arguments.folder)
        selected = needing_lock(project, files) if arguments.only_changed else files
        selected, conflicted = without_conflicts(project, selected)
    except (OSError, ValueError) as error:
        say(f"error: {error}")
        return 1
    for requirement in conflicted:
        say(
            f"requirements: {requirement.source.as_posix()} has merge conflicts; not locked, "
            f"nor what uses it. Resolve the conflict markers, then run `{LOCK_COMMAND}`."
        )
    if not selected and not conflicted:
        say("requirements: no .in file changed; lock files kept as they are.")
    if arguments.seed and not arguments.seed.is_file():
        say(f"error: the seed {arguments.seed} is not a file")
        return 1
    if arguments.dry_run:
        for requirement in selected:
            print(requirement.source.as_posix())
        return 0
    if not selected:
        return 1 if conflicted else 0

    upgrade = ["--upgrade"] if arguments.upgrade else []
    for package in arguments.upgrade_package:
        upgrade += ["--upgrade-package", package]
    outputs = [project / requirement.output for requirement in selected]
    before = {path: path.read_bytes() if path.exists() else None for path in outputs}
    try:
        command = [
            *compile_command(arguments.tool, arguments.tool_python, python_version),
            *upgrade,
        ]
        lock_all(
            command,
            project,
            selected,
            f"for Python {python_version} with {arguments.tool}",
            # pip-compile is one thread waiting on the network: files of one stage overlap.
            # uv already fetches in parallel, and two uv processes at once only add
            # concurrent DNS lookups, which some resolvers drop (a 5 s stall, then a retry).
            parallel=arguments.tool == "pip-tools",
            seed=arguments.seed.resolve() if arguments.seed else None,
        )
    except (LockError, OSError) as error:
        say(f"error: {error}")
        return 1
    if arguments.check:
        changed = [
            path.relative_to(project) for path in outputs if before[path] != path.read_bytes()
        ]
        report_stale(changed)
        if changed:
            return 1
    return 1 if conflicted else 0


if __name__ == "__main__":
    sys.exit(main())
