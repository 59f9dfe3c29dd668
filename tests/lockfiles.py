"""Reading pip-tools format lock files (requirements/*.txt) and what their .in files ask for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


@dataclass
class Pin:
    name: str
    version: str
    hashes: list[str] = field(default_factory=list)


def read_pins(path: Path) -> dict[str, Pin]:
    """Every requirement of a lock file. Anything that is not a `name==version` pin fails."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line.startswith(" "):
            assert current is not None, f"{path}:{number}: continuation without a requirement"
            if stripped.startswith("--hash="):
                current.hashes.append(stripped.removeprefix("--hash=").removesuffix("\\").strip())
            continue
        match = _PIN.match(stripped)
        assert match, f"{path}:{number}: not an exact pin: {line!r}"
        current = Pin(match.group(1).lower().replace("_", "-"), match.group(2))
        pins[current.name] = current
    return pins


def required_names(source: Path) -> set[str]:
    """The packages an .in file asks for by name, with those of the files it includes (-r)."""
    names: set[str] = set()
    for line in source.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            names |= required_names(source.parent / line.split(maxsplit=1)[1])
        elif line and not line.startswith(("#", "-")):
            names.add(canonicalize_name(Requirement(line).name))
    return names
