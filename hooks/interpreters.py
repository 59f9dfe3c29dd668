"""Find a Python interpreter of an exact X.Y version on this machine.

pip-compile resolves for the interpreter it runs on, so locking a 3.13 service from a
copier installed on 3.11 needs a 3.13 interpreter. Standard library only.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_VERSION_PROBE = "import sys; print('%d.%d' % sys.version_info[:2])"


def interpreter_version(command: list[str]) -> str | None:
    """Return "X.Y" of the interpreter started by `command`, or None if it does not run.

    pyenv shims exist on PATH for versions that are installed but not selected and
    fail when run, so every candidate is started once rather than trusted by name.
    """
    try:
        completed = subprocess.run(
            [*command, "-c", _VERSION_PROBE],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip() or None


def _candidates(version: str) -> Iterator[list[str]]:
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        yield [sys.executable]
    for name in (f"python{version}", f"python{version.replace('.', '')}"):
        found = shutil.which(name)
        if found:
            yield [found]
    if os.name == "nt" and shutil.which("py"):
        yield ["py", f"-{version}"]
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
    """Interpreters installed by pyenv, mise, asdf or uv that are not on PATH."""
    home = Path.home()
    roots = [
        Path(os.environ.get("PYENV_ROOT", home / ".pyenv")) / "versions",
        home / ".local/share/mise/installs/python",
        home / ".asdf/installs/python",
    ]
    patterns = [str(root / f"{version}*" / "bin" / f"python{version}") for root in roots]
    patterns.append(str(home / ".local/share/uv/python" / f"cpython-{version}*" / "bin" / f"python{version}"))
    for pattern in patterns:
        # Newest patch release first; pre-releases and free-threaded builds sort after.
        for path in sorted(glob.glob(pattern), reverse=True):
            yield [path]


def find_python(version: str) -> list[str] | None:
    """Return a command that starts Python `version` ("3.13"), or None if none is found."""
    override = os.environ.get("PST_LOCK_PYTHON")
    if override:
        command = [override]
        return command if interpreter_version(command) == version else None
    seen: set[str] = set()
    for command in _candidates(version):
        key = " ".join(command)
        if key in seen:
            continue
        seen.add(key)
        if interpreter_version(command) == version:
            return command
    return None
