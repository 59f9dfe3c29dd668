"""`copier copy` with the default answers, per lock tool, and the lock time of each file.

    .venv/bin/python bench/copy_speed.py [--repeat 3]

Each tool gets one warm-up run first (its cached venv and the package caches filled, as
on any machine after the first service), then `--repeat` measured runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import generate, report, spread, summary

LOCK_LINE = re.compile(r"requirements: wrote requirements/(\w+)\.txt in ([\d.]+) s")
TOOLS = ("uv", "pip-tools")


def one_copy(tool: str) -> tuple[float, dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="pst-copy-"))
    try:
        started = time.perf_counter()
        completed = generate(work / "service", f"lock_tool={tool}", quiet=False)
        elapsed = time.perf_counter() - started
        locks = {name: float(seconds) for name, seconds in LOCK_LINE.findall(completed.stderr)}
        if set(locks) != {"base", "dev", "prod"}:
            sys.exit(f"the lock step did not lock base, dev and prod:\n{completed.stderr[-3000:]}")
        return elapsed, locks
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(repeat: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for tool in TOOLS:
        one_copy(tool)  # warm-up
        runs = [one_copy(tool) for _ in range(repeat)]
        results[tool] = {
            "copy": summary([elapsed for elapsed, _ in runs]),
            **{
                f"lock_{name}": summary([locks[name] for _, locks in runs])
                for name in ("base", "dev", "prod")
            },
        }
    return results


def table(results: dict[str, dict]) -> list[tuple[str, str, str]]:
    rows = []
    for tool in TOOLS:
        data = results[tool]
        rows.append(
            (f"`copier copy`, defaults, {tool}", spread(data["copy"]), "≤ 5 s" if tool == "uv" else "")
        )
        for name in ("base", "dev", "prod"):
            rows.append((f"  lock {name}.txt ({tool})", spread(data[f"lock_{name}"]), ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    results = measure(parser.parse_args().repeat)
    report("copy_speed", table(results), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
