"""Write the reference locks: reference/python3.X.txt, one per Python version copier.yml offers.

Each pins, with hashes, every package that any generated service's requirements/*.in can
ask for (every answer combination at once), for Linux x86_64 (what the images and CI run
on). The copier hook starts a new service's locks from the one of its Python version, so
every new service gets these versions: the ones this repository's test suite ran.

    python reference/refresh.py             # after a template .in changed: keeps every pin it can
    python reference/refresh.py --upgrade   # the newest versions (the scheduled workflow's PR)
    python reference/refresh.py --check     # exit 1 if a reference lock is stale

`make lock` runs the first, `make upgrade` the second. Locking uses uv (it resolves for a
Python version without its interpreter) at the version the hooks pin, and the flags of
the generated project's own tools/lock.py.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "reference"
sys.path[:0] = [str(ROOT / "hooks"), str(ROOT / "template" / "tools")]

from lock import UV_COMPILE  # noqa: E402
from lock_tools import provision  # noqa: E402

# The answers the requirement templates branch on.
VARIED = ("framework", "database", "worker", "lock_tool", "tracing", "model")
PLATFORM = "x86_64-unknown-linux-gnu"
COMMAND = "make lock"


def offered(questions: dict, name: str) -> list:
    if questions[name].get("type") == "bool":
        return [False, True]
    choices = questions[name]["choices"]
    return list(choices.values() if isinstance(choices, dict) else choices)


def every_requirement(questions: dict) -> list[str]:
    """The requirement lines of every rendering of template/requirements/*.in(.jinja)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    templates = [
        environment.from_string(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "template" / "requirements").glob("*.in*"))
    ]
    found: set[str] = set()
    for values in itertools.product(*(offered(questions, name) for name in VARIED)):
        answers = dict(zip(VARIED, values, strict=True))
        for template in templates:
            for line in template.render(**answers).splitlines():
                requirement = line.split("#", 1)[0].strip()
                # -c/-r name the project's other files, all of which are rendered here too.
                if requirement and not requirement.startswith("-"):
                    found.add(requirement)
    return sorted(found)


def lock(python_version: str, requirements: Path, upgrade: bool, uv_python: str) -> None:
    output = HERE / f"python{python_version}.txt"
    command = [
        uv_python,
        *UV_COMPILE,
        "--python-version",
        python_version,
        "--python-platform",
        PLATFORM,
        *(["--upgrade"] if upgrade else []),
        "--output-file",
        str(output),
        requirements.name,
    ]
    environment = {**os.environ, "UV_CUSTOM_COMPILE_COMMAND": COMMAND}
    print(f"reference: locking python{python_version}.txt ...", file=sys.stderr, flush=True)
    subprocess.run(command, cwd=requirements.parent, env=environment, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--upgrade", action="store_true", help="the newest versions allowed")
    action.add_argument("--check", action="store_true", help="exit 1 if a lock was stale")
    arguments = parser.parse_args(argv)

    questions = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    versions = offered(questions, "python_version")
    outputs = [HERE / f"python{version}.txt" for version in versions]
    before = {path: path.read_bytes() if path.exists() else b"" for path in outputs}
    uv_python = str(provision("uv", sys.executable))
    with tempfile.TemporaryDirectory() as scratch:
        # A fixed name, so the "# via -r requirements.in" annotations never vary.
        requirements = Path(scratch) / "requirements.in"
        requirements.write_text("\n".join(every_requirement(questions)) + "\n", encoding="utf-8")
        for version in versions:  # one at a time: uv is parallel inside
            lock(version, requirements, arguments.upgrade, uv_python)
    stale = [path.name for path in outputs if path.read_bytes() != before[path]]
    for name in sorted(p.name for p in HERE.glob("python*.txt") if p not in outputs):
        print(f"reference: {name} is for a Python version copier.yml no longer offers", file=sys.stderr)
        stale.append(name)
    if arguments.check and stale:
        print(f"reference: stale: {', '.join(stale)}; run `{COMMAND}` and commit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
