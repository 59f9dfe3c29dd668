"""What every benchmark script shares: running commands, timing them, summarising runs."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
COPIER = str(Path(sys.executable).with_name("copier"))


def sh(*command: str, cwd: Path | None = None, check: bool = True, env: dict | None = None) -> str:
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return completed.stdout.strip()


def timed(*command: str, cwd: Path | None = None, env: dict | None = None) -> float:
    started = time.perf_counter()
    sh(*command, cwd=cwd, env=env)
    return time.perf_counter() - started


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def spread(stat: dict[str, float], unit: str = "s", digits: int = 2) -> str:
    return f"{stat['median']:.{digits}f} {unit} ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})"


def generate(
    destination: Path,
    *answers: str,
    quiet: bool = True,
    env: dict[str, str] | None = None,
    vcs_ref: str = "HEAD",
) -> subprocess.CompletedProcess[str]:
    """`copier copy` of this checkout (HEAD plus uncommitted changes, or an earlier commit),
    as a user runs it."""
    data = [f"--data={answer}" for answer in ("project_name=Bench Service", *answers)]
    command = [
        COPIER,
        "copy",
        "--trust",
        "--defaults",
        f"--vcs-ref={vcs_ref}",
        *data,
        str(ROOT),
        str(destination),
    ]
    if quiet:
        command.insert(2, "--quiet")
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if completed.returncode != 0:
        sys.exit(f"copier copy failed:\n{completed.stderr[-3000:]}")
    return completed


def report(name: str, rows: list[tuple[str, ...]], results: dict) -> None:
    """Print the rows of one script run alone, and keep its figures in bench/results/."""
    for row in rows:
        print(" | ".join(row))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
