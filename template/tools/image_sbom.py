"""The CycloneDX SBOM of a built image's Python packages (`make sbom IMAGE=...`; CI's image
job attests it with the image).

The image's environment, /opt/venv, holds what pip installed from requirements/prod.txt
and nothing else. It is copied out of the image (docker create, docker cp) and
cyclonedx-py (requirements/tools.txt) reads the metadata of every distribution in it.
cyclonedx-py asks an interpreter for the paths to read; a throwaway venv of this
machine's Python, whose site-packages is the image's, answers it. Nothing of the image
runs, so any host describes an image of any CPU. Standard library only, Python 3.9+.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IMAGE_ENVIRONMENT = "/opt/venv"


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def copy_site_packages(image: str, scratch: Path) -> Path:
    """The image's site-packages folder, copied into `scratch`."""
    container = docker("create", image)
    try:
        docker("cp", f"{container}:{IMAGE_ENVIRONMENT}/lib", str(scratch / "image"))
    finally:
        docker("rm", container)
    found = sorted((scratch / "image").glob("python3*/site-packages"))
    if len(found) != 1:
        raise SystemExit(
            f"error: {image} has {len(found)} site-packages folders in {IMAGE_ENVIRONMENT}"
        )
    return found[0]


def environment_of(site_packages: Path, scratch: Path) -> Path:
    """A venv whose interpreter's path is `site-packages` (and this Python's standard library)."""
    environment = scratch / "environment"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)], check=True)
    python = environment / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shutil.rmtree(purelib)
    shutil.move(str(site_packages), purelib)
    return environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--image", required=True, help="a local image: a tag or an ID")
    parser.add_argument("--output", type=Path, default=Path("sbom.cdx.json"))
    parser.add_argument(
        "--pyproject", type=Path, default=Path("pyproject.toml"), help="the root component"
    )
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        environment = environment_of(copy_site_packages(arguments.image, scratch), scratch)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cyclonedx_py",
                "environment",
                # The time is SOURCE_DATE_EPOCH's (CI sets the commit's), or none.
                "--output-reproducible",
                "--pyproject",
                str(arguments.pyproject),
                "--output-format",
                "JSON",
                "--output-file",
                str(arguments.output),
                str(environment),
            ],
            check=True,
        )
    print(f"sbom: wrote {arguments.output} ({arguments.image})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
