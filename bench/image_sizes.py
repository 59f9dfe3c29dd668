"""Bytes the production image adds to its base image, for every framework, database and
worker combination (the other answers default).

    .venv/bin/python bench/image_sizes.py

Needs Docker and the package index. Each image is built, measured and removed.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from common import ROOT, generate, report, sh

QUESTIONS = yaml.safe_load((ROOT / "copier.yml").read_text())
BASE = f"python:{QUESTIONS['python_version']['default']}-slim"


def offered(name: str) -> list[str]:
    choices = QUESTIONS[name]["choices"]
    return list(choices.values() if isinstance(choices, dict) else choices)


def size_of(image: str) -> int:
    return int(sh("docker", "image", "inspect", image, "--format", "{{.Size}}"))


def measure() -> dict[str, int]:
    base = size_of(BASE)
    added: dict[str, int] = {}
    work = Path(tempfile.mkdtemp(prefix="pst-sizes-"))
    try:
        for framework, database, worker in itertools.product(
            offered("framework"), offered("database"), offered("worker")
        ):
            name = f"{framework}-{database}-{worker}"
            project = work / name
            generate(
                project, "lock_tool=uv", f"framework={framework}", f"database={database}", f"worker={worker}"
            )
            tag = f"pst-size-{name}"
            sh("docker", "build", "--quiet", "--tag", tag, ".", cwd=project)
            added[name] = size_of(tag) - base
            sh("docker", "image", "rm", "--force", tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"base_image": BASE, "base_bytes": base, "added_bytes": added}


def table(results: dict) -> list[tuple[str, str, str]]:
    default = "-".join(QUESTIONS[name]["default"] for name in ("framework", "database", "worker"))
    return [
        (
            f"Prod image over {results['base_image']}: {name}",
            f"{size / 1e6:.0f} MB",
            "≤ 100 MB" if name == default else "",
        )
        for name, size in results["added_bytes"].items()
    ]


def main() -> int:
    results = measure()
    report("image_sizes", table(results), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
