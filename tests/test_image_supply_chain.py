"""What CI's image job makes of the production image, done here to an image built here:
the SBOM (`make sbom`, the command the job runs) and builds of one commit that install
byte-identical files (SOURCE_DATE_EPOCH). The scan, the multi-platform push and the
attestations need GitHub and a registry; the workflow's lint checks those steps."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dockerized import docker
from lockfiles import read_pins
from support import DEFAULT_PYTHON, git, new_repository, run

pytestmark = pytest.mark.xdist_group("locked-defaults")

# Every file and link the Dockerfile writes (the environment, the app, its user): each
# one's path, mode and content digest.
MANIFEST = """
import hashlib, os, stat
paths = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"]
for top in ("/opt/venv", "/app"):
    for folder, folders, files in sorted(os.walk(top)):
        links = [name for name in folders if os.path.islink(os.path.join(folder, name))]
        paths += [os.path.join(folder, name) for name in sorted(files + links)]
for path in paths:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        content = "-> " + os.readlink(path)
    else:
        with open(path, "rb") as file:
            content = hashlib.sha256(file.read()).hexdigest()
    print(path, oct(mode), content)
"""


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Built:
    """The default service, committed, and its production image built for its commit."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.epoch = git(project, "log", "-1", "--format=%ct").strip()
        self.images: list[str] = []

    def build(self, *, epoch: bool) -> str:
        image = f"pst-supply-{uuid.uuid4().hex[:10]}"
        self.images.append(image)
        arguments = ["--build-arg", f"SOURCE_DATE_EPOCH={self.epoch}"] if epoch else []
        docker(
            "build",
            "--no-cache",
            "--build-arg",
            f"PYTHON_VERSION={DEFAULT_PYTHON}",
            *arguments,
            "--tag",
            image,
            ".",
            cwd=self.project,
        )
        return image

    def manifest(self, image: str) -> list[str]:
        run = ("run", "--rm", "--user", "root", "--entrypoint", "python", image, "-c", MANIFEST)
        return docker(*run).stdout.splitlines()


@pytest.fixture(scope="module")
def built(locked, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    project = tmp_path_factory.mktemp("supply-chain") / "service"
    shutil.copytree(locked(), project, ignore=shutil.ignore_patterns(".venv"))
    result = Built(new_repository(project, "generated"))
    try:
        yield result
    finally:
        if result.images:
            docker("image", "rm", "--force", *result.images, check=False)


@pytest.fixture(scope="module")
def reproducible_image(built: Built) -> str:
    """The image as CI's image job builds it: with the commit's time."""
    return built.build(epoch=True)


def test_the_sbom_lists_exactly_the_packages_of_prod_txt(built: Built, reproducible_image: str) -> None:
    sbom_file = built.project / "sbom.cdx.json"
    environment = {**os.environ, "SOURCE_DATE_EPOCH": built.epoch}
    # The template's venv has the project's tools.txt tools; CI's `make sync` installs them.
    run(["make", "sbom", f"IMAGE={reproducible_image}", f"VENV={sys.prefix}"], built.project, environment)

    sbom = json.loads(sbom_file.read_text())
    prod = read_pins(built.project / "requirements" / "prod.txt")
    components = {normalized(c["name"]): c for c in sbom["components"]}
    assert sbom["bomFormat"] == "CycloneDX"
    assert {name: c["version"] for name, c in components.items()} == {
        name: pin.version for name, pin in prod.items()
    }
    assert all(c["purl"] == f"pkg:pypi/{name}@{c['version']}" for name, c in components.items())
    assert sbom["metadata"]["component"]["name"] == "orders-service"
    stamped = datetime.fromtimestamp(int(built.epoch), tz=UTC)
    assert datetime.fromisoformat(sbom["metadata"]["timestamp"]) == stamped


def test_two_builds_of_one_commit_install_identical_files(built: Built, reproducible_image: str) -> None:
    first = built.manifest(reproducible_image)
    second = built.manifest(built.build(epoch=True))

    assert len(first) > 1000
    assert first == second
    # Without the commit's time, pip's .pyc files hold the time of the build.
    without = built.manifest(built.build(epoch=False))
    differing = sorted(set(first) ^ set(without))
    assert differing
    assert {Path(line.split()[0]).suffix for line in differing} <= {".pyc", ""}
