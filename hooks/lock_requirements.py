"""The lock step of `copier copy` (a task) and `copier update` (a migration).

It runs the generated project's own tools/lock.py, the command behind `make lock`, with a
lock tool provisioned for it (lock_tools.py). A new service's locks start from the
template's reference lock for its Python version (reference_locks.py): the versions the
template's tests ran, resolved and hash-checked by the real tool for this project's .in
files, and a line for each package the index made it move. After `copier update`
(`--only-changed`) the user's locks are theirs: only the .in files that changed are
locked, from their own pins, and nothing at all, not even the tool's install, when none did.

A failure never fails copier: copier would delete a freshly generated project, so the
project is kept and the message says how to finish. Standard library only: it runs on
copier's interpreter, however copier was installed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from lock_tools import LockError, tool_python
from reference_locks import reference_lock, report

LOCK_SCRIPT = Path("tools/lock.py")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", choices=["pip-tools", "uv"], required=True)
    parser.add_argument("--python", required=True, help="target Python version, e.g. 3.13")
    parser.add_argument("--only-changed", action="store_true", help="after copier update")
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    return parser.parse_args(argv)


def answer_at_head(project: Path, answers_file: str, key: str) -> str | None:
    """The value of `key` in the committed copier answers file (a flat YAML mapping)."""
    completed = subprocess.run(
        ["git", "show", f"HEAD:{answers_file}"], cwd=project, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        return None
    match = re.search(rf"^{re.escape(key)}:\s*['\"]?([^'\"\n]*)['\"]?\s*$", completed.stdout, re.MULTILINE)
    return match.group(1).strip() if match else None


def lock_arguments(arguments: argparse.Namespace, project: Path) -> list[str]:
    selection = [f"--tool={arguments.tool}"]
    # A new Python version or lock tool invalidates every pin, even with the same .in files.
    answers_changed = any(
        answer_at_head(project, arguments.answers_file, key) not in (None, value)
        for key, value in (("python_version", arguments.python), ("lock_tool", arguments.tool))
    )
    if arguments.only_changed and not answers_changed:
        selection.append("--only-changed")
    return selection


def run_lock_script(
    project: Path, python: str, arguments: list[str], listing: bool = False
) -> subprocess.CompletedProcess[str]:
    if not (project / LOCK_SCRIPT).is_file():
        raise LockError(f"{LOCK_SCRIPT} is missing from the project")
    return subprocess.run(
        [python, str(LOCK_SCRIPT), *arguments],
        cwd=project,
        stdout=subprocess.PIPE if listing else None,
        text=True,
        check=False,
    )


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    project = Path.cwd()
    lock = lock_arguments(arguments, project)
    try:
        # Which files need a lock is known without the lock tool, so nothing is installed
        # (and no network used) when none does.
        listing = run_lock_script(project, sys.executable, [*lock, "--dry-run"], listing=True)
        if listing.returncode != 0:
            raise LockError("tools/lock.py could not tell what to lock (see above)")
        sources = listing.stdout.split()
        if not sources:
            return 0
        seed = None if arguments.only_changed else reference_lock(arguments.python)
        if seed:
            lock.append(f"--seed={seed}")
        python = tool_python(arguments.tool, arguments.python)
        if run_lock_script(project, python, [*lock, f"--tool-python={python}"]).returncode != 0:
            raise LockError("see the messages above")
        if seed:
            news = report(seed, [project / Path(source).with_suffix(".txt") for source in sources])
            if news:
                say(news)
    except (LockError, OSError) as error:
        say(
            "\n"
            f"!! Locking requirements FAILED: {error}\n"
            f"!! The project in {project} is complete; only requirements/*.txt are missing or stale.\n"
            "!! Fix the cause above (network, package index, Python version), then run:\n"
            f"!!     cd {project} && make lock\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
