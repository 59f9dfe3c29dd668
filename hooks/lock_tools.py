"""The two lock tools, and how to get a working copy of each whatever installed copier.

Both write the pip-tools requirements format with hashes. The flags here are the
single source of the lock command: the generated Makefile's `lock` target mirrors them,
and the tests check that `make lock` reproduces what this module wrote.
Standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from interpreters import find_python, interpreter_version

PINS_DIR = Path(__file__).resolve().parent / "pins"
COMPILE_COMMAND = "make lock"

# Anything machine-local (file:// indexes, local find-links, trusted hosts from
# pip.conf) must stay out of the lock files.
PIP_COMPILE_FLAGS = (
    "--quiet",
    "--generate-hashes",
    "--allow-unsafe",
    "--strip-extras",
    "--no-emit-index-url",
    "--no-emit-find-links",
    "--no-emit-trusted-host",
)
# uv would otherwise try to download an interpreter of the target version first.
UV_COMPILE_FLAGS = ("--quiet", "--no-python-downloads", "--generate-hashes", "--strip-extras")


class LockError(Exception):
    """The lock step cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class LockTool:
    """A runnable compile command for one target Python version."""

    name: str
    python_version: str
    base_command: tuple[str, ...]

    def compile_command(self, source: str, output: str, upgrade: bool = False) -> list[str]:
        if self.name == "uv":
            flags = [*UV_COMPILE_FLAGS, "--python-version", self.python_version]
        else:
            flags = list(PIP_COMPILE_FLAGS)
        if upgrade:
            flags.append("--upgrade")
        return [*self.base_command, *flags, "--output-file", output, source]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CUSTOM_COMPILE_COMMAND"] = COMPILE_COMMAND
        env["UV_CUSTOM_COMPILE_COMMAND"] = COMPILE_COMMAND
        return env


def cache_root() -> Path:
    override = os.environ.get("PST_CACHE_DIR")
    if override:
        return Path(override)
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "python-service-template"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "python-service-template"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def provision(tool: str, python: list[str]) -> Path:
    """Install the pinned `tool` into a cached venv built by `python`; return its python.

    The venv's name carries the digest of the pins file, so a template release that
    moves a pin gets a fresh venv, and concurrent runs never share a half-built one.
    """
    pins = PINS_DIR / f"{tool}.txt"
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()[:12]
    version = interpreter_version(python)
    if version is None:
        raise LockError(f"{' '.join(python)} does not run")
    venv = cache_root() / "tools" / f"{tool}-{digest}-py{version}"
    if (venv / ".complete").exists():
        return _venv_python(venv)

    venv.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", dir=venv.parent))
    try:
        _run_quietly([*python, "-m", "venv", "--clear", str(staging)], "create a virtual environment")
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
        # Only `python -m piptools` and the uv binary are used, neither of which
        # depends on the venv's original path, so a finished venv can be renamed
        # into place atomically; a concurrent run that won the race is kept.
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


def get_lock_tool(name: str, python_version: str) -> LockTool:
    """Return a LockTool for `name` that resolves for `python_version`, provisioning it if needed."""
    if name == "uv":
        if _importable("uv"):
            from uv import find_uv_bin  # type: ignore[import-not-found]

            return LockTool("uv", python_version, (find_uv_bin(), "pip", "compile"))
        venv_python = provision("uv", [sys.executable])
        uv_binary = venv_python.parent / ("uv.exe" if os.name == "nt" else "uv")
        return LockTool("uv", python_version, (str(uv_binary), "pip", "compile"))

    if name != "pip-tools":
        raise LockError(f"unknown lock tool {name!r} (expected 'pip-tools' or 'uv')")
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if running == python_version and _importable("piptools"):
        return LockTool(name, python_version, (sys.executable, "-m", "piptools", "compile"))
    python = find_python(python_version)
    if python is None:
        raise LockError(
            f"Python {python_version} was not found on this machine, and pip-compile resolves "
            f"for the Python it runs on.\n"
            f"      Install Python {python_version} (python.org, pyenv, or `uv python install "
            f"{python_version}`), or set PST_LOCK_PYTHON to its path, then run `make lock`.\n"
            f"      (The uv lock tool resolves for any version without that interpreter.)"
        )
    venv_python = provision("pip-tools", python)
    return LockTool(name, python_version, (str(venv_python), "-m", "piptools", "compile"))
