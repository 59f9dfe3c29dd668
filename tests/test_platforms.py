"""Every lock installs on every platform that installs it, from wheels alone and with every
hash: README.md's platform table. uv's resolver checks a lock for another platform (pip's
--platform does not re-evaluate environment markers); with --require-hashes it also fails
on a dependency that only that platform's markers ask for and the lock has not got."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from lock_tools import tool_python
from lockfiles import read_pins
from reference_locks import REFERENCE_DIR
from support import DEFAULT_PYTHON, QUESTIONS, TEMPLATE_ROOT
from test_locks import PARAMS

# Where a team develops: `make sync` installs dev.txt and tools.txt together into .venv.
# Linux hosts: glibc 2.28 or newer (RHEL 8, Debian 10, Ubuntu 20.04 and later); WSL 2 is one.
HOSTS = {
    "macOS arm64": "aarch64-apple-darwin",
    "macOS x86_64": "x86_64-apple-darwin",
    "Linux x86_64": "x86_64-manylinux_2_28",
    "Linux aarch64": "aarch64-manylinux_2_28",
}
# ONNX Runtime has wheels for Apple Silicon from macOS 14 on, and none for Intel Macs: a
# service that serves a model promises these hosts (README: Platforms). "@14.0" is the
# oldest macOS a check takes wheels for.
MODEL_HOSTS = {
    "macOS 14+ arm64": "aarch64-apple-darwin@14.0",
    "Linux x86_64": HOSTS["Linux x86_64"],
    "Linux aarch64": HOSTS["Linux aarch64"],
}
# What only a model service asks for and not every host above has.
MODEL_ONLY = "onnxruntime"
# The images, on Debian (glibc 2.36 or newer): Dockerfile.dev installs dev.txt, Dockerfile prod.txt.
IMAGES = {
    "linux/amd64": "x86_64-manylinux_2_36",
    "linux/arm64": "aarch64-manylinux_2_36",
}
HOST_LOCKS = ("dev.txt", "tools.txt")
IMAGE_LOCKS = (("dev.txt",), ("prod.txt",))


def not_installable(locks: list[Path], platform: str, python_version: str, scratch: Path) -> str:
    """ "" when `locks` install together on `platform`, or else uv's reason (it names the package)."""
    platform, _, macos = platform.partition("@")
    completed = subprocess.run(
        [
            tool_python("uv", python_version),
            *("-m", "uv", "pip", "install", "--dry-run", "--require-hashes", "--no-python-downloads"),
            *("--only-binary", ":all:", "--python-platform", platform, "--python-version", python_version),
            *("--target", str(scratch)),
            *(f"--requirement={lock}" for lock in locks),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "MACOSX_DEPLOYMENT_TARGET": macos} if macos else None,
    )
    if completed.returncode == 0:
        return ""
    lines = [line.strip() for line in completed.stderr.splitlines()]
    reason = [line for line in lines if line.startswith(("error", "cause"))]
    return " ".join(reason) or completed.stderr.strip()[-500:]


def failures(checks: list[tuple[str, str, list[Path]]], python_version: str, scratch: Path) -> list[str]:
    """ "`lock names` on `platform label`: uv's reason" for each (label, platform, locks) that fails."""
    found = []
    for label, platform, locks in checks:
        reason = not_installable(locks, platform, python_version, scratch)
        if reason:
            found.append(f"{' + '.join(lock.name for lock in locks)} on {label} ({platform}): {reason}")
    return found


def service_checks(requirements: Path) -> list[tuple[str, str, list[Path]]]:
    host = [requirements / lock for lock in HOST_LOCKS]
    # `make model` installs train.txt alone, into .venv-train, on the host.
    serves_a_model = (requirements / "train.txt").is_file()
    train = [[requirements / "train.txt"]] if serves_a_model else []
    hosts = MODEL_HOSTS if serves_a_model else HOSTS
    return [
        *((label, platform, host) for label, platform in hosts.items()),
        *((label, platform, locks) for label, platform in hosts.items() for locks in train),
        *(
            (f"{label} image", platform, [requirements / name for name in names])
            for label, platform in IMAGES.items()
            for names in IMAGE_LOCKS
        ),
    ]


@pytest.mark.parametrize("answers", PARAMS)
def test_every_lock_of_a_service_installs_on_every_promised_platform(
    locked, tmp_path: Path, answers: dict[str, str]
) -> None:
    requirements = locked(**answers) / "requirements"
    python_version = answers.get("python_version", DEFAULT_PYTHON)

    assert failures(service_checks(requirements), python_version, tmp_path) == []


@pytest.mark.parametrize("python_version", QUESTIONS["python_version"]["choices"])
def test_the_reference_locks_install_on_every_promised_platform(python_version: str, tmp_path: Path) -> None:
    """A new service starts from its reference lock: every pin of it, on every platform
    it promises; those only a model service asks for, on the model's platforms."""
    reference = REFERENCE_DIR / f"python{python_version}.txt"
    without_model = tmp_path / reference.name
    without_model.write_text(without_package(reference.read_text(), MODEL_ONLY))
    checks = [
        *((label, platform, [without_model]) for label, platform in HOSTS.items()),
        *((label, platform, [reference]) for label, platform in {**MODEL_HOSTS, **IMAGES}.items()),
    ]

    assert failures(checks, python_version, tmp_path / "target") == []


def without_package(lock: str, name: str) -> str:
    """A lock file's text without `name`'s pin and its continuation lines."""
    kept, skipping = [], False
    for line in lock.splitlines(keepends=True):
        if not line.startswith(" "):
            skipping = line.startswith(f"{name}==")
        if not skipping:
            kept.append(line)
    return "".join(kept)


@pytest.mark.parametrize("answers", [p for p in PARAMS if p.values[0].get("model") == "onnx"][:1])
def test_a_model_service_on_an_intel_mac_is_refused_naming_the_runtime(
    locked, tmp_path: Path, answers: dict[str, str]
) -> None:
    """What README's Platforms says: ONNX Runtime has no build for Intel Macs."""
    requirements = locked(**answers) / "requirements"
    intel = [("macOS x86_64", HOSTS["macOS x86_64"], [requirements / lock for lock in HOST_LOCKS])]

    (reported,) = failures(intel, DEFAULT_PYTHON, tmp_path)
    assert MODEL_ONLY in reported


def test_this_repositorys_tools_install_on_every_host(tmp_path: Path) -> None:
    """A template maintainer's `make test` installs requirements/dev.txt, on any host."""
    python_version = (TEMPLATE_ROOT / ".python-version").read_text().strip()
    lock = TEMPLATE_ROOT / "requirements/dev.txt"
    checks = [(label, platform, [lock]) for label, platform in HOSTS.items()]

    assert failures(checks, python_version, tmp_path) == []


def test_a_dependency_only_another_platform_asks_for_is_reported(tmp_path: Path) -> None:
    """tzlocal needs tzdata on Windows alone: a lock made on Linux has not got it, and the
    check names it (which is why native Windows is not on the list: WSL 2 is)."""
    reference = REFERENCE_DIR / f"python{DEFAULT_PYTHON}.txt"
    tzlocal = read_pins(reference)["tzlocal"]
    lock = tmp_path / "windows.txt"
    lock.write_text(f"tzlocal=={tzlocal.version} " + " ".join(f"--hash={h}" for h in tzlocal.hashes) + "\n")
    windows = [("Windows x86_64", "x86_64-pc-windows-msvc", [lock])]

    (reported,) = failures(windows, DEFAULT_PYTHON, tmp_path / "target")
    assert reported.startswith("windows.txt on Windows x86_64 (x86_64-pc-windows-msvc): ")
    assert "`tzdata`" in reported
    # The same lock on Linux has all it needs.
    assert failures([("Linux", HOSTS["Linux x86_64"], [lock])], DEFAULT_PYTHON, tmp_path / "target") == []
