"""`copier copy` with the default answers, per lock tool, and the lock time of each file.

    .venv/bin/python bench/copy_speed.py [--repeat 5]

Warm: each tool gets one warm-up run first (its cached venv and the package caches
filled, as on any machine after the first service), then `--repeat` measured runs.
Empty: `--repeat` runs, each with every cache empty (XDG_CACHE_HOME: pip's, pip-tools',
uv's and the lock tool's venv), as on a machine that never made a service.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import generate, report, spread, summary

LOCK_LINE = re.compile(r"requirements: wrote requirements/(\w+)\.txt in ([\d.]+) s")
TOOLS = ("uv", "pip-tools")


def one_copy(tool: str, empty_caches: bool = False) -> tuple[float, dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="pst-copy-"))
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")} if empty_caches else None
    try:
        started = time.perf_counter()
        completed = generate(work / "service", f"lock_tool={tool}", quiet=False, env=env)
        elapsed = time.perf_counter() - started
        locks = {name: float(seconds) for name, seconds in LOCK_LINE.findall(completed.stderr)}
        if set(locks) != {"base", "dev", "prod", "tools"}:
            sys.exit(f"the lock step did not lock base, dev, prod and tools:\n{completed.stderr[-3000:]}")
        return elapsed, locks
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(repeat: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for tool in TOOLS:
        one_copy(tool)  # warm-up
        runs = [one_copy(tool) for _ in range(repeat)]
        empty = [one_copy(tool, empty_caches=True)[0] for _ in range(repeat)]
        results[tool] = {
            "copy": summary([elapsed for elapsed, _ in runs]),
            "copy_empty_caches": summary(empty),
            **{
                f"lock_{name}": summary([locks[name] for _, locks in runs])
                for name in ("base", "dev", "prod", "tools")
            },
        }
    return results


def table(results: dict[str, dict]) -> list[tuple[str, str, str]]:
    rows = []
    for tool in TOOLS:
        data = results[tool]
        target = "≤ 2 s median, max ≤ 3 s" if tool == "uv" else "≤ 5 s"
        rows.append((f"`copier copy`, defaults, {tool}, warm caches", spread(data["copy"]), target))
        for name in ("base", "dev", "prod", "tools"):
            rows.append((f"  lock {name}.txt ({tool})", spread(data[f"lock_{name}"]), ""))
        rows.append((f"`copier copy`, defaults, {tool}, empty caches", spread(data["copy_empty_caches"]), ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    results = measure(parser.parse_args().repeat)
    report("copy_speed", table(results), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
