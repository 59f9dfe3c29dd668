"""Find an interpreter of the Python version this project runs on.

The version is the one in .python-version, which pyenv, uv, mise, asdf and
actions/setup-python read too. `make sync` creates .venv with what this finds, and the
template's lock step runs pip-compile with it (pip-compile resolves for the Python it runs
on). Usage, from the project root, with any Python 3.9 or newer:

    python3 tools/find_python.py            # prints the path of a matching interpreter
    python3 tools/find_python.py PYTHON     # checks that PYTHON (a name or a path) matches

Standard library only.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

VERSION_FILE = ".python-version"
_PROBE = "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)"


def pinned_version(project: Path) -> str:
    """The X.Y version that `project`/.python-version names (a patch release is cut off)."""
    path = project / VERSION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"{path} cannot be read: {error.strerror}") from None
    words = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    version = next((word for word in words if word), "")
    parts = version.removeprefix("python").removeprefix("cpython-").split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ValueError(f"{path} should name a Python version such as 3.13, not {version!r}")
    return f"{parts[0]}.{parts[1]}"


def probe(command: list[str]) -> tuple[str, str] | None:
    """("X.Y", executable) of the interpreter `command` starts, or None if it does not run.

    A pyenv shim exists on PATH for every installed version and refuses to run for the ones
    that are not selected, so each candidate is started once rather than trusted by its name.
    """
    try:
        completed = subprocess.run(
            [*command, "-c", _PROBE], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version, _, executable = completed.stdout.strip().partition(" ")
    if completed.returncode != 0 or not executable:
        return None
    return version, executable


def interpreter_version(command: list[str]) -> str | None:
    """The "X.Y" of the interpreter `command` starts, or None if it does not run."""
    found = probe(command)
    return found[0] if found else None


def _candidates(version: str) -> Iterator[list[str]]:
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        yield [sys.executable]
    for name in (f"python{version}", f"python{version.replace('.', '')}", "python3", "python"):
        found = shutil.which(name)
        if found:
            yield [found]
    yield from _managed_installs(version)
    uv = shutil.which("uv")
    if uv:
        try:
            found = subprocess.run(
                [uv, "python", "find", "--no-python-downloads", version],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            found = ""
        if found:
            yield [found]


def _managed_installs(version: str) -> Iterator[list[str]]:
    """Interpreters that pyenv, mise, asdf, uv or python.org installed, not necessarily on PATH."""
    home = Path.home()
    roots = [
        Path(os.environ.get("PYENV_ROOT", home / ".pyenv")) / "versions",
        Path(os.environ.get("MISE_DATA_DIR", home / ".local/share/mise")) / "installs/python",
        Path(os.environ.get("ASDF_DATA_DIR", home / ".asdf")) / "installs/python",
    ]
    patterns = [str(root / f"{version}*" / "bin" / f"python{version}") for root in roots]
    uv_root = os.environ.get("UV_PYTHON_INSTALL_DIR", str(home / ".local/share/uv/python"))
    patterns.append(str(Path(uv_root) / f"cpython-{version}*" / "bin" / f"python{version}"))
    patterns.append(f"/Library/Frameworks/Python.framework/Versions/{version}/bin/python{version}")
    for pattern in patterns:
        # Newest patch release first; pre-releases and free-threaded builds sort after it.
        for path in sorted(glob.glob(pattern), reverse=True):
            yield [path]


def find_python(version: str, preferred: str | None = None) -> str | None:
    """The path of an interpreter of `version` ("3.13"), or None if there is none.

    `preferred` (a name on PATH or a path) is the only candidate when given: a wrong
    version there is an error to report, not something to work around.
    """
    if preferred:
        found = probe([preferred])
        return found[1] if found and found[0] == version else None
    seen: set[str] = set()
    for command in _candidates(version):
        key = " ".join(command)
        if key in seen:
            continue
        seen.add(key)
        found = probe(command)
        if found and found[0] == version:
            return found[1]
    return None


def missing_message(version: str, preferred: str | None = None) -> str:
    if preferred:
        found = interpreter_version([preferred])
        actual = f"is Python {found}" if found else "does not run"
        return f"{preferred} {actual}, but this project runs on Python {version} ({VERSION_FILE})."
    return (
        f"Python {version} ({VERSION_FILE}) was not found on this machine: install it with "
        f"`uv python install {version}`, `pyenv install {version}` or from python.org, "
        f"or name one with PYTHON=/path/to/python{version}."
    )


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    preferred = arguments[0] if arguments else None
    try:
        version = pinned_version(Path.cwd())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    found = find_python(version, preferred)
    if found is None:
        print(f"error: {missing_message(version, preferred)}", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
