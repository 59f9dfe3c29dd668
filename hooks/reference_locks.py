"""The template's reference locks (reference/python3.X.txt): the versions its test suite ran.

A new service's locks start from them (tools/lock.py --seed), so it gets the tested set
whatever the index serves today. Where the user's index has not got a pinned version,
the lock tool picks another; this module names those packages. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)


def reference_lock(python_version: str) -> Path | None:
    path = REFERENCE_DIR / f"python{python_version}.txt"
    return path if path.is_file() else None


def read_pins(path: Path) -> dict[str, str]:
    """{normalized name: version} of every `name==version` line of a lock file."""
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in _PIN.findall(path.read_text(encoding="utf-8"))
    }


@dataclass(frozen=True)
class Departure:
    name: str
    tested: str | None  # None: the reference has not got the package at all
    locked: str


def departures(reference: Path, locks: list[Path]) -> list[Departure]:
    """The pins of `locks` that are not the reference's, each package once."""
    tested = read_pins(reference)
    found: dict[str, Departure] = {}
    for lock in locks:
        for name, version in read_pins(lock).items():
            if tested.get(name) != version:
                found.setdefault(name, Departure(name, tested.get(name), version))
    return sorted(found.values(), key=lambda departure: departure.name)


def report(reference: Path, locks: list[Path]) -> str:
    """What a user should know about the locks just written, or "" when all is as tested."""
    moved = departures(reference, locks)
    if not moved:
        return ""
    lines = [
        f"requirements: {len(moved)} package(s) are not at the version the template tested "
        f"(reference/{reference.name}): the package index has not got that version, or "
        "this machine needs a package the template's tests did not:"
    ]
    for departure in moved:
        tested = departure.tested or "not in the reference"
        lines.append(f"    {departure.name}: {tested} -> {departure.locked}")
    lines.append("  Run `make test` before relying on them.")
    return "\n".join(lines)
