"""requirements/*.in files: their lock order, and which of them need a new lock.

An .in that says `-c base.txt` or `-r base.in` must be locked after base.in, and again
whenever base.txt changes. Standard library only, Python 3.9 or newer (tools/lock.py).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_REFERENCE = re.compile(r"^\s*(-[rc]|--requirement|--constraint)[\s=]+(\S+)", re.MULTILINE)
CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)


@dataclass(frozen=True)
class RequirementFile:
    source: Path  # requirements/base.in, relative to the project root
    depends_on: frozenset[Path]  # other .in files it references (directly or via their .txt)
    constraints: tuple[Path, ...] = ()  # lock files it is constrained by (-c base.txt)

    @property
    def output(self) -> Path:
        return self.source.with_suffix(".txt")


def discover(project: Path, folder: str = "requirements") -> list[RequirementFile]:
    """Every .in under `folder`, in an order where each comes after what it references."""
    sources = sorted((project / folder).glob("*.in"))
    known = {path.relative_to(project) for path in sources}
    files: dict[Path, RequirementFile] = {}
    for path in sources:
        relative = path.relative_to(project)
        depends: set[Path] = set()
        constraints: list[Path] = []
        for option, target in _REFERENCE.findall(path.read_text(encoding="utf-8")):
            referenced = (relative.parent / target).with_suffix(".in")
            if referenced in known and referenced != relative:
                depends.add(referenced)
                if option in ("-c", "--constraint"):
                    constraints.append(referenced.with_suffix(".txt"))
        files[relative] = RequirementFile(relative, frozenset(depends), tuple(constraints))
    return _topological(files)


def _topological(files: dict[Path, RequirementFile]) -> list[RequirementFile]:
    ordered: list[RequirementFile] = []
    state: dict[Path, str] = {}

    def visit(path: Path, chain: tuple[Path, ...]) -> None:
        if state.get(path) == "done":
            return
        if state.get(path) == "visiting":
            cycle = " -> ".join(str(p) for p in (*chain, path))
            raise ValueError(f"requirement files reference each other in a cycle: {cycle}")
        state[path] = "visiting"
        for dependency in sorted(files[path].depends_on):
            visit(dependency, (*chain, path))
        state[path] = "done"
        ordered.append(files[path])

    for path in sorted(files):
        visit(path, ())
    return ordered


def has_conflict_markers(project: Path, requirement: RequirementFile) -> bool:
    return bool(CONFLICT_MARKER.search((project / requirement.source).read_text(encoding="utf-8")))


def changed_since_head(project: Path, path: Path) -> bool:
    """True when `path` differs from the last commit (or is not committed at all)."""
    completed = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", str(path)],
        cwd=project,
        capture_output=True,
        check=False,
    )
    if completed.returncode == 1:
        return True
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "--", str(path)],
        cwd=project,
        capture_output=True,
        check=False,
    )
    return tracked.returncode != 0


def needing_lock(project: Path, files: list[RequirementFile]) -> list[RequirementFile]:
    """The files to lock, in order: changed since HEAD, missing a lock, or downstream of one."""
    selected: list[RequirementFile] = []
    relocked: set[Path] = set()
    for requirement in files:
        if (
            not (project / requirement.output).exists()
            or changed_since_head(project, requirement.source)
            or requirement.depends_on & relocked
        ):
            selected.append(requirement)
            relocked.add(requirement.source)
    return selected


def in_stages(files: list[RequirementFile]) -> list[list[RequirementFile]]:
    """Group `files` (in dependency order) so each stage depends only on earlier stages:
    the files of one stage can be locked at the same time."""
    stage_of: dict[Path, int] = {}
    stages: list[list[RequirementFile]] = []
    for requirement in files:
        earlier = [stage_of[d] for d in requirement.depends_on if d in stage_of]
        stage = max(earlier, default=-1) + 1
        stage_of[requirement.source] = stage
        if stage == len(stages):
            stages.append([])
        stages[stage].append(requirement)
    return stages
