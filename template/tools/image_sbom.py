"""The CycloneDX SBOM of a built image's Python packages (`make sbom IMAGE=...`; CI's image
job attests it with the image).

The image's environment, /opt/venv, holds what pip installed from requirements/prod.txt
and nothing else. It is copied out of the image (docker create, docker cp) and
cyclonedx-py (requirements/tools.txt) reads the metadata of every distribution in it.
cyclonedx-py asks an interpreter for the paths to read; a throwaway venv of this
machine's Python, whose site-packages is the image's, answers it. Nothing of the image
runs, so any host describes an image of any CPU. Standard library only, Python 3.9+.

A model baked into the image (/app/model, beside its lock) is listed too, as a
CycloneDX machine-learning-model component: its sha256 is that of the file in the image,
which must be the lock's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IMAGE_ENVIRONMENT = "/opt/venv"
# Where the image keeps a served model and its lock (the Dockerfile's COPY model/).
IMAGE_MODELS = "/app/model"


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def copy_out(image: str, scratch: Path) -> tuple[Path, Path | None]:
    """The image's site-packages folder and its model folder (None without a model),
    copied into `scratch`."""
    container = docker("create", image)
    models: Path | None = scratch / "models"
    try:
        docker("cp", f"{container}:{IMAGE_ENVIRONMENT}/lib", str(scratch / "image"))
        try:
            docker("cp", f"{container}:{IMAGE_MODELS}", str(models))
        except subprocess.CalledProcessError:
            models = None  # a service without a model
    finally:
        docker("rm", container)
    found = sorted((scratch / "image").glob("python3*/site-packages"))
    if len(found) != 1:
        raise SystemExit(
            f"error: {image} has {len(found)} site-packages folders in {IMAGE_ENVIRONMENT}"
        )
    return found[0], models


def model_components(models: Path) -> list[dict]:
    """A machine-learning-model component for each model lock in the image's model folder."""
    components = []
    for lock_path in sorted(models.glob("*.lock.json")):
        lock = json.loads(lock_path.read_text())
        model = models / lock["file"]
        sha256 = hashlib.sha256(model.read_bytes()).hexdigest()
        if sha256 != lock["sha256"]:
            raise SystemExit(
                f"error: the image's {model.name} has sha256 {sha256}, "
                f"not its lock's {lock['sha256']}"
            )
        components.append(
            {
                "type": "machine-learning-model",
                "bom-ref": f"model:{lock['name']}@{lock['version']}",
                "name": lock["name"],
                "version": lock["version"],
                "hashes": [{"alg": "SHA-256", "content": sha256}],
                "properties": [
                    {"name": "model:file", "value": f"{IMAGE_MODELS}/{lock['file']}"},
                    {"name": "model:format", "value": lock["format"]},
                    {"name": "model:size", "value": str(lock["size"])},
                    {"name": "model:source", "value": lock["source"]},
                    {
                        "name": "model:training-lock-sha256",
                        "value": lock["training"]["lock_sha256"],
                    },
                ],
            }
        )
    return components


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
        site_packages, models = copy_out(arguments.image, scratch)
        environment = environment_of(site_packages, scratch)
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
        if models is not None:
            sbom = json.loads(arguments.output.read_text())
            sbom["components"] = [*sbom.get("components", []), *model_components(models)]
            arguments.output.write_text(json.dumps(sbom, indent=2) + "\n")
    print(f"sbom: wrote {arguments.output} ({arguments.image})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
