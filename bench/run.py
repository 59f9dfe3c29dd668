"""The whole benchmark suite in one run: prints one table and writes it to
bench/results/summary.md and summary.json.

    make bench                     # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --repeat 5 --skip-test-suite

Needs what the tests need (a Docker engine with BuildKit, Python 3.11-3.13, the package
index). Run it on an otherwise idle machine: every figure is a wall time. `wrk`, when
installed, generates the HTTP load; otherwise a Python client does (see bench/load.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import containers
import copy_speed
import image_sizes
import servers
from common import RESULTS, ROOT, summary


def test_suite_time() -> dict[str, float]:
    """The README's test command, once (it takes minutes; one run is its own median)."""
    started = time.perf_counter()
    completed = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "pytest", "-q"], cwd=ROOT, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"the test suite failed:\n{completed.stdout[-3000:]}")
    return summary([elapsed])


def server_verdicts(served: dict) -> list[tuple[str, bool, str]]:
    checks = []
    for framework, variants in served.items():
        ours = variants["ours"]
        checks.append(
            (
                f"{framework}: no new PostgreSQL session under steady load",
                ours["new_sessions"]["median"] == 0,
                f"{ours['new_sessions']['median']:.0f} (max {ours['new_sessions']['max']:.0f})",
            )
        )
        rivals = [name for name in variants if name not in ("ours", *servers.PATCHES)]
        for path in ("health", "items"):
            best = max(rivals, key=lambda name: variants[name][f"{path}_rps"]["median"])
            ratio = ours[f"{path}_rps"]["median"] / variants[best][f"{path}_rps"]["median"]
            checks.append((f"{framework}: ours ≥ {best} on /{path} req/s", ratio >= 1, f"{ratio:.2f}x"))
    return checks


def verdicts(copy: dict, built: dict, suite: dict | None) -> list[tuple[str, bool, str]]:
    ours, naive = built["template"], built["naive"]
    prod_rps, dev_rps = ours["rps_prod"]["median"], ours["rps_dev"]["median"]
    uv, pip_tools = copy["uv"]["copy"], copy["pip-tools"]["copy"]
    checks = [
        (
            "copier copy with uv ≤ 2 s median, ≤ 3 s max",
            uv["median"] <= 2 and uv["max"] <= 3,
            f"{uv['median']:.1f} s (max {uv['max']:.1f} s)",
        ),
        ("copier copy with pip-tools ≤ 5 s", pip_tools["median"] <= 5, f"{pip_tools['median']:.1f} s"),
        (
            "prod image ≤ 50% of naive",
            ours["size"] <= 0.5 * naive["size"],
            f"{ours['size'] / naive['size']:.0%}",
        ),
        (
            "code-only rebuild ≤ 10% of cold build",
            ours["code_rebuild"] <= 0.1 * ours["cold_build"],
            f"{ours['code_rebuild'] / ours['cold_build']:.0%}",
        ),
        (
            "app healthy ≤ 3 s after start",
            ours["healthy"]["median"] <= 3,
            f"{ours['healthy']['median']:.2f} s",
        ),
        ("docker stop (app) ≤ 2 s", ours["stop"]["median"] <= 2, f"{ours['stop']['median']:.2f} s"),
        (
            "docker stop (worker) ≤ 2 s",
            ours["worker_stop"]["median"] <= 2,
            f"{ours['worker_stop']['median']:.2f} s",
        ),
        (
            "prod server ≥ 2x dev requests/s",
            prod_rps >= 2 * dev_rps,
            f"{prod_rps / dev_rps:.1f}x",
        ),
    ]
    if suite:
        checks.append(("test suite ≤ 20 min", suite["median"] <= 1200, f"{suite['median'] / 60:.1f} min"))
    return checks


def render(copy: dict, built: dict, served: dict, sizes: dict, suite: dict | None, repeat: int) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; medians of {repeat} runs (min-max) unless one value is shown.",
        "",
        "| Measure | This template | Naive Dockerfile | Ratio | Target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for measure, value, target in copy_speed.table(copy):
        lines.append(f"| {measure} | {value} |  |  | {target} |")
    for row in containers.table(built):
        lines.append(f"| {' | '.join(row)} |")
    for measure, value, target in image_sizes.table(sizes):
        lines.append(f"| {measure} | {value} |  |  | {target} |")
    if suite:
        lines.append(
            f"| Template test suite (`make test`) | {suite['median'] / 60:.1f} min |  |  | ≤ 20 min |"
        )
    header, *rows = servers.table(served)
    lines += ["", f"| {' | '.join(header)} |", "|" + " --- |" * len(header)]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    lines += ["", "| Target | Met | Measured |", "| --- | --- | --- |"]
    for name, met, measured in [*verdicts(copy, built, suite), *server_verdicts(served)]:
        lines.append(f"| {name} | {'yes' if met else '**no**'} | {measured} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each repeated measure")
    parser.add_argument("--load-seconds", type=float, default=10, help="length of each load test")
    parser.add_argument("--skip-test-suite", action="store_true", help="leave out `make test` (minutes)")
    arguments = parser.parse_args()

    copy = copy_speed.measure(arguments.repeat)
    built = containers.measure(arguments.repeat, arguments.load_seconds)
    served = servers.measure(arguments.repeat, servers.SECONDS)
    sizes = image_sizes.measure()
    suite = None if arguments.skip_test_suite else test_suite_time()
    table = render(copy, built, served, sizes, suite, arguments.repeat)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.md").write_text(table)
    (RESULTS / "summary.json").write_text(
        json.dumps(
            {
                "copier_copy": copy,
                "containers": built,
                "servers": served,
                "image_sizes": sizes,
                "test_suite": suite,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
