"""A working copy of the lock tool, whatever installed copier.

The project's own tools/lock.py runs the tool; this module only gets an interpreter that
has it: copier's own when it has the tool (and, for pip-tools, is the target version),
otherwise a cached venv with the version pinned in hooks/pins/. Standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The interpreter finder the generated project uses for `make sync`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "template" / "tools"))
from find_python import find_python, interpreter_version, missing_message

PINS_DIR = Path(__file__).resolve().parent / "pins"


class LockError(Exception):
    """The lock step cannot go on; the message says why and what to do."""


def cache_root() -> Path:
    override = os.environ.get("PST_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "python-service-template"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def provision(tool: str, python: str) -> Path:
    """Install the pinned `tool` into a cached venv built by `python`; return its python.

    The venv's name carries the digest of the pins file, so a template release that
    moves a pin gets a fresh venv, and concurrent runs never share a half-built one.
    """
    pins = PINS_DIR / f"{tool}.txt"
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()[:12]
    version = interpreter_version([python])
    if version is None:
        raise LockError(f"{python} does not run")
    venv = cache_root() / "tools" / f"{tool}-{digest}-py{version}"
    if (venv / ".complete").exists():
        return _venv_python(venv)

    venv.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", dir=venv.parent))
    try:
        _run_quietly([python, "-m", "venv", "--clear", str(staging)], "create a virtual environment")
        _run_quietly(
            [
                str(_venv_python(staging)),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--require-hashes",
                "-r",
                str(pins),
            ],
            f"install {tool} from the template's pins ({pins.name})",
        )
        (staging / ".complete").write_text(pins.read_text())
        # Only `python -m piptools` and `python -m uv` are run, and neither depends on
        # the venv's original path (the scripts' shebangs do, and are never used), so a
        # finished venv is renamed into place atomically; a concurrent winner is kept.
        if venv.exists() and not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)  # left by an interrupted run
        try:
            staging.rename(venv)
        except OSError:
            if not (venv / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _venv_python(venv)


def _run_quietly(command: list[str], what: str) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
        raise LockError(f"could not {what}:\n      " + "\n      ".join(detail))


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def tool_python(name: str, python_version: str) -> str:
    """An interpreter that runs lock tool `name` ("pip-tools" or "uv") for `python_version`."""
    if name == "uv":
        # uv resolves for any version: whatever interpreter carries it will do.
        return sys.executable if _importable("uv") else str(provision("uv", sys.executable))
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if running == python_version and _importable("piptools"):
        return sys.executable
    # pip-compile resolves for the Python it runs on.
    preferred = os.environ.get("PST_LOCK_PYTHON")
    python = find_python(python_version, preferred)
    if python is None:
        raise LockError(
            f"{missing_message(python_version, preferred)}\n"
            "      (The uv lock tool resolves for any version without that interpreter.)"
        )
    return str(provision("pip-tools", python))
