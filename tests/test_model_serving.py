"""A service that serves a model (model=onnx): `make model` trains and locks it the same
way twice, the generated tests (which verify, load and query it, and Schemathesis over
its whole API) pass, its hooks pass, and the production image carries the model,
verified at build and at start, without the training packages."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from dockerized import docker, free_port, http, wait_for
from support import (
    DEFAULT_PYTHON,
    FASTAPI_MODEL,
    FLASK_MODEL,
    execute,
    git,
    new_repository,
    python_or_fail,
    run,
)
from test_locks import group

SERVING = [FASTAPI_MODEL, FLASK_MODEL]
FASTAPI_SERVING = FASTAPI_MODEL


def param(answers: dict[str, str]):
    return pytest.param(answers, id=answers["framework"], marks=pytest.mark.xdist_group(group(answers)))


def synced_copy(locked, destination: Path, answers: dict[str, str]) -> Path:
    """The generated service, committed, with its .venv synced (`make sync`)."""
    project = shutil.copytree(locked(**answers), destination)
    new_repository(project, "generated")
    run(["make", "sync", f"PYTHON={python_or_fail(DEFAULT_PYTHON)}"], project, timeout=900)
    return project


@pytest.mark.parametrize("answers", [param(answers) for answers in SERVING])
def test_make_test_makes_the_model_the_same_way_twice_and_its_tests_pass(
    locked, tmp_path: Path, tool_environment: dict[str, str], answers: dict[str, str]
) -> None:
    project = synced_copy(locked, tmp_path / "service", answers)
    assert not (project / "model" / "model.onnx").exists()

    output = run(["make", "test"], project, timeout=900)

    assert "wrote model/model.lock.json" in output  # the first `make test` made the model
    assert " passed" in output
    assert " failed" not in output
    # Schemathesis, every check on, over the whole API: the model's endpoints included.
    integration = run(["make", "test-integration"], project, timeout=900)
    assert " passed" in integration
    assert " failed" not in integration
    lock = json.loads((project / "model" / "model.lock.json").read_text())
    made = (project / "model" / "model.onnx").read_bytes()
    assert lock["size"] == len(made)
    assert lock["format"] == "onnx"
    assert lock["training"]["packages"]["scikit-learn"]
    assert lock["inputs"][0]["shape"] == [-1, len(lock["feature_names"])]
    # A second run makes the same bytes: the lock does not change.
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "model")
    run(["make", "model"], project, timeout=900)
    assert git(project, "status", "--porcelain") == ""
    # Its hooks pass, the training script and the Dockerfile's verification step included.
    lint = execute(["make", "lint"], project, tool_environment, timeout=900)
    assert lint.returncode == 0, (lint.stdout + lint.stderr)[-4000:]


@pytest.fixture(scope="module")
def model_service(locked, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = synced_copy(locked, tmp_path_factory.mktemp("model") / "service", FASTAPI_SERVING)
    run(["make", "model"], project, timeout=900)
    return project


@pytest.fixture(scope="module")
def model_image(model_service: Path) -> Iterator[str]:
    image = f"pst-model-{uuid.uuid4().hex[:10]}"
    docker("build", "--tag", image, ".", cwd=model_service)
    yield image
    docker("image", "rm", "--force", image, check=False)


def started(image: str, *arguments: str) -> tuple[str, str]:
    """A container of `image` on a free loopback port, and its URL."""
    port = free_port()
    container = docker(
        "run", "--detach", "--publish", f"127.0.0.1:{port}:8000", *arguments, image
    ).stdout.strip()
    return container, f"http://127.0.0.1:{port}"


def ready_state(url: str) -> tuple[int, dict]:
    def answered() -> tuple[int, dict] | None:
        try:
            status, body = http("GET", f"{url}/ready")
        except OSError:
            return None
        return (status, body) if body["checks"]["model"] != "unavailable: loading" else None

    return wait_for(answered, timeout=60)


# The tests of the image share it, so they run on one worker.
ON_THE_IMAGE = pytest.mark.xdist_group(group(FASTAPI_SERVING))


@ON_THE_IMAGE
def test_the_image_serves_the_verified_model_without_the_training_packages(
    model_service: Path, model_image: str
) -> None:
    # The model baked in is the locked one (the build checked it: see the tampered build).
    lock = json.loads((model_service / "model" / "model.lock.json").read_text())
    baked = docker("run", "--rm", "--entrypoint", "sha256sum", model_image, "/app/model/model.onnx")
    assert baked.stdout.split()[0] == lock["sha256"]
    container, url = started(model_image)
    try:
        assert ready_state(url) == (200, {"status": "ready", "checks": {"model": "ok"}})
        status, answer = http("POST", f"{url}/predict", {"instances": [[0.5] * 8, [-1.0] * 8]})
        assert status == 200
        assert len(answer["label"]) == 2
        status, answer = http("GET", f"{url}/v2/models/orders-service")
        assert status == 200
        logs = docker("logs", container).stdout + docker("logs", container).stderr
        assert lock["sha256"] in logs  # the load is logged with the model's hash
    finally:
        docker("rm", "--force", container, check=False)
    # The image's environment is prod.txt: nothing of train.txt that the service does not need.
    listing = docker(
        "run", "--rm", "--entrypoint", "python", model_image, "-m", "pip", "--version", check=False
    )
    assert listing.returncode != 0  # no pip in the image's venv
    training = "('sklearn', 'skl2onnx', 'onnx', 'scipy')"
    modules = f"import importlib.util as u; print([m for m in {training} if u.find_spec(m)])"
    assert docker("run", "--rm", "--entrypoint", "python", model_image, "-c", modules).stdout.strip() == "[]"


@ON_THE_IMAGE
def test_a_mounted_model_is_verified_against_the_baked_lock(
    model_service: Path, model_image: str, tmp_path: Path
) -> None:
    mounted = tmp_path / "models"
    mounted.mkdir()
    shutil.copy(model_service / "model" / "model.onnx", mounted / "model.onnx")
    mounted.chmod(0o755)
    (mounted / "model.onnx").chmod(0o644)
    arguments = ("--volume", f"{mounted}:/models:ro", "--env", "MODEL_DIR=/models")

    container, url = started(model_image, *arguments)
    try:
        assert ready_state(url)[0] == 200
    finally:
        docker("rm", "--force", container, check=False)

    data = bytearray((mounted / "model.onnx").read_bytes())
    data[100] ^= 0xFF
    (mounted / "model.onnx").write_bytes(bytes(data))
    container, url = started(model_image, *arguments)
    try:
        status, body = ready_state(url)
        assert (status, body["checks"]["model"]) == (503, "unavailable: checksum mismatch")
        assert http("POST", f"{url}/predict", {"instances": [[0.5] * 8]})[0] == 503
    finally:
        docker("rm", "--force", container, check=False)


@ON_THE_IMAGE
@pytest.mark.parametrize(("limit", "processes", "threads"), [("1", "1", 1), ("2", "1", 2), ("2", "2", 1)])
def test_runtime_threads_follow_the_containers_cpu_limit(
    model_image: str, limit: str, processes: str, threads: int
) -> None:
    container, url = started(model_image, f"--cpus={limit}", "--env", f"WEB_CONCURRENCY={processes}")
    try:
        assert ready_state(url)[0] == 200

        def loaded() -> list[str]:
            """The load's log line of each server process, once every process has one."""
            logs = docker("logs", container).stdout + docker("logs", container).stderr
            lines = [line for line in logs.splitlines() if "runtime thread(s)" in line]
            return lines if len(lines) == int(processes) else []

        lines = wait_for(loaded, timeout=60)
        assert all(f"{threads} runtime thread(s)" in line for line in lines), lines
    finally:
        docker("rm", "--force", container, check=False)


@ON_THE_IMAGE
def test_a_model_that_is_not_its_locks_fails_the_image_build(model_service: Path, tmp_path: Path) -> None:
    project = shutil.copytree(model_service, tmp_path / "tampered", ignore=shutil.ignore_patterns(".venv*"))
    model = project / "model" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-1] ^= 1
    model.write_bytes(bytes(data))

    built = docker("build", "--tag", f"pst-tampered-{uuid.uuid4().hex[:10]}", ".", cwd=project, check=False)

    assert built.returncode != 0
    assert "checksum mismatch" in built.stdout + built.stderr


@ON_THE_IMAGE
def test_the_sbom_lists_the_model_by_its_locks_sha256_and_no_training_package(
    model_service: Path, model_image: str
) -> None:
    run(["make", "sbom", f"IMAGE={model_image}", f"VENV={sys.prefix}"], model_service)

    text = (model_service / "sbom.cdx.json").read_text()
    sbom = json.loads(text)
    error = JsonStrictValidator(SchemaVersion.from_version(sbom["specVersion"])).validate_str(text)
    assert error is None, str(error)[:2000]
    components = {c["name"].lower() for c in sbom["components"] if c["type"] == "library"}
    assert "onnxruntime" in components
    assert not {"scikit-learn", "skl2onnx", "onnx", "scipy"} & components
    lock = json.loads((model_service / "model" / "model.lock.json").read_text())
    [model] = [c for c in sbom["components"] if c["type"] == "machine-learning-model"]
    assert (model["name"], model["version"]) == (lock["name"], lock["version"])
    assert model["hashes"] == [{"alg": "SHA-256", "content": lock["sha256"]}]
