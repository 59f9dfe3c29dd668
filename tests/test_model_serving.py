"""A service that serves a model (model=onnx): `make model` trains and locks it the same
way twice, the generated tests (which verify, load and query it, and Schemathesis over
its whole API) pass, its hooks pass, and the production image carries the model,
verified at build and at start, without the training packages."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from dockerized import docker, free_port, http, isolation, new_name, wait_for
from support import (
    DEFAULT_PYTHON,
    FASTAPI_MODEL,
    FLASK_MODEL,
    execute,
    git,
    new_repository,
    python_or_fail,
    run,
    with_model,
)
from test_dev_environment import remove_stack
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


@pytest.fixture(scope="module")
def fastapi_service(locked, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FastAPI service, synced and with no model yet: the first test below makes it,
    and the tests of the image and the stacks share it."""
    return synced_copy(locked, tmp_path_factory.mktemp("model") / "service", FASTAPI_SERVING)


@pytest.mark.parametrize("answers", [param(answers) for answers in SERVING])
def test_make_test_makes_the_model_the_same_way_twice_and_its_tests_pass(
    request: pytest.FixtureRequest,
    locked,
    tmp_path: Path,
    tool_environment: dict[str, str],
    answers: dict[str, str],
) -> None:
    if answers is FASTAPI_SERVING:
        project = request.getfixturevalue("fastapi_service")
    else:
        project = synced_copy(locked, tmp_path / "service", answers)
    assert not (project / "model" / "model.onnx").exists()

    output = run(["make", "test"], project, timeout=900)

    assert "wrote model/model.lock.json" in output  # the first `make test` made the model
    assert " passed" in output
    assert " failed" not in output
    if answers["worker"] == "none":
        # Schemathesis, every check on, over the whole API: the model's endpoints included.
        # (With a worker, they need Redis: they run in the development stack, below.)
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
def model_service(fastapi_service: Path) -> Path:
    """The FastAPI service with its model (made by the first test, or copied)."""
    return with_model(fastapi_service)


# The service's worker takes tasks from Redis, which the app waits for and checks: its
# containers run beside one, on a network of this module's own.
BROKER_NETWORK = f"pst-model-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def model_image(model_service: Path) -> Iterator[str]:
    image = f"pst-model-{uuid.uuid4().hex[:10]}"
    docker("build", "--tag", image, ".", cwd=model_service)
    docker("network", "create", BROKER_NETWORK)
    broker = docker("run", "--detach", "--network", BROKER_NETWORK, "--network-alias", "redis", "redis:7")
    yield image
    docker("rm", "--force", broker.stdout.strip(), check=False)
    docker("network", "rm", BROKER_NETWORK, check=False)
    docker("image", "rm", "--force", image, check=False)


def started(image: str, *arguments: str) -> tuple[str, str]:
    """A container of `image` on a free loopback port, beside Redis, and its URL."""
    port = free_port()
    container = docker(
        *("run", "--detach", "--publish", f"127.0.0.1:{port}:8000", "--network", BROKER_NETWORK),
        *("--env", "REDIS_URL=redis://redis:6379/0", *arguments, image),
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
def test_make_up_serves_the_model_and_the_worker_scores_batches_in_the_stack(
    model_service: Path,
) -> None:
    """The development stack, as the generated README orders it: `make up`, the model
    served, then `make docker-test` (Schemathesis over the model's endpoints, and the
    worker scoring a batch through Redis) inside it."""
    name = new_name()
    environment = {**os.environ, **isolation(name)}
    try:
        up = execute(["make", "up"], model_service, environment, timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        url = f"http://127.0.0.1:{environment['APP_PORT']}"
        assert http("GET", f"{url}/v2/health/ready") == (200, {"ready": True})
        status, answer = http("POST", f"{url}/predict", {"instances": [[0.5] * 8]})
        assert status == 200, answer

        tested = execute(["make", "docker-test"], model_service, environment, timeout=900)

        assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
        assert " passed" in tested.stdout
        worker = docker("compose", "logs", "worker", cwd=model_service, env=environment).stdout
        lock = json.loads((model_service / "model" / "model.lock.json").read_text())
        assert lock["sha256"] in worker  # the worker's process loaded the model itself
        assert re.search(r"orders_service\.score\[[-0-9a-f]+\] succeeded", worker), worker[-3000:]
    finally:
        assert remove_stack(name) == []


@ON_THE_IMAGE
def test_the_image_serves_the_verified_model_without_the_training_packages(
    model_service: Path, model_image: str
) -> None:
    # The model baked in is the locked one (the build checked it: see the tampered build).
    lock = json.loads((model_service / "model" / "model.lock.json").read_text())
    baked = docker("run", "--rm", "--entrypoint", "sha256sum", model_image, "/app/model/model.onnx")
    assert baked.stdout.split()[0] == lock["sha256"]
    # The build's check of the model left nothing behind (it once left its metrics' files).
    listed = docker("run", "--rm", "--entrypoint", "ls", model_image, "/app").stdout.split()
    assert sorted(listed) == ["gunicorn.conf.py", "model", "scripts", "src"]
    container, url = started(model_image)
    try:
        assert ready_state(url) == (200, {"status": "ready", "checks": {"model": "ok", "redis": "ok"}})
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


# The threads of each process the server started (the children of PID 1, its master).
WORKER_THREADS = """
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    if fields[1] == "1":
        print(len(os.listdir(f"/proc/{pid}/task")))
"""


def server_threads(image: str, limit: str, processes: str) -> list[int]:
    """The threads of each server process, read from /proc, in a container limited to
    `limit` CPUs, once every process has loaded the model (and logged how many threads its
    runtime was given). No request is made first: serving one may start threads of its own
    (the event loop's executor, which runs the readiness checks)."""
    container, _ = started(image, f"--cpus={limit}", "--env", f"WEB_CONCURRENCY={processes}")
    try:

        def loaded() -> list[str]:
            logs = docker("logs", container).stdout + docker("logs", container).stderr
            lines = [line for line in logs.splitlines() if "runtime thread(s)" in line]
            return lines if len(lines) == int(processes) else []

        lines = wait_for(loaded, timeout=60)
        expected = int(limit) // int(processes)
        assert all(f" {expected} runtime thread(s)" in line for line in lines), lines

        def settled() -> list[int] | None:
            """The counts, once two readings a second apart agree (the load's own thread
            ends just after its log line)."""
            first = docker("exec", container, "python", "-c", WORKER_THREADS).stdout.split()
            time.sleep(1)
            second = docker("exec", container, "python", "-c", WORKER_THREADS).stdout.split()
            return sorted(int(count) for count in second) if first == second else None

        return wait_for(settled, timeout=30)
    finally:
        docker("rm", "--force", container, check=False)


@ON_THE_IMAGE
def test_the_threads_the_server_runs_follow_the_containers_cpu_limit(model_image: str) -> None:
    """This machine has at least 2 cores: a server that sized its pools by them would run
    as many threads under --cpus=1 as under --cpus=2."""
    one_cpu = server_threads(model_image, "1", "1")
    two_cpus = server_threads(model_image, "2", "1")
    two_processes = server_threads(model_image, "2", "2")

    # One more thread in each of the two pools: ONNX Runtime's, and numpy's OpenBLAS's.
    assert two_cpus == [one_cpu[0] + 2]
    # Two processes share two CPUs: each runs what one process runs on one.
    assert two_processes == one_cpu * 2


def answer_seconds(url: str) -> float:
    started_at = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()
    return time.perf_counter() - started_at


@ON_THE_IMAGE
def test_health_and_metrics_answer_promptly_while_inference_saturates_the_cpu(
    model_image: str,
) -> None:
    container, url = started(model_image, "--cpus=1")
    stop = threading.Event()
    answered: list[int] = []
    # 16 requests of 250 rows wait at most: within MODEL_MAX_QUEUE_ROWS, none is refused.
    batch = {"instances": [[0.25 * (i % 7)] * 8 for i in range(250)]}

    def saturate() -> None:
        while not stop.is_set():
            answered.append(http("POST", f"{url}/predict", batch, timeout=30)[0])

    try:
        assert ready_state(url)[0] == 200
        with ThreadPoolExecutor(max_workers=16) as pool:
            for _ in range(16):
                pool.submit(saturate)
            time.sleep(2)  # every process is busy with inference
            health = [answer_seconds(f"{url}/health") for _ in range(20)]
            scraped = [answer_seconds(f"{url}/metrics") for _ in range(5)]
            busy = len(answered)
            stop.set()
    finally:
        docker("rm", "--force", container, check=False)

    assert busy >= 16, busy  # inference ran all along: the CPU was saturated
    assert set(answered) == {200}
    # Prompt: well under a second each, while 16 clients keep the CPU busy.
    assert max(health) < 0.5, health
    assert max(scraped) < 1.0, scraped


# A model of opset 99 of ONNX's own domain, which no released runtime runs (onnx's checker
# takes it: the lock can be written).
FUTURE_MODEL = """
import sys
from onnx import TensorProto, helper, save
graph = helper.make_graph(
    [helper.make_node("Identity", ["features"], ["label"])],
    "future",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 8])],
    [helper.make_tensor_value_info("label", TensorProto.FLOAT, [None, 8])],
)
save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 99)]), sys.argv[1])
"""
# What /ready says of the model of a service started with the environment's MODEL_LOCK.
READY = """
from fastapi.testclient import TestClient
from orders_service.app import create_app
app = create_app()
app.state.model.loaded.wait(60)
answer = TestClient(app).get("/ready")
print(answer.status_code, answer.json()["checks"]["model"])
"""


@ON_THE_IMAGE
def test_a_model_of_an_opset_the_runtime_lacks_fails_at_build_and_at_start(
    model_service: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.onnx"
    run(["make", ".venv-train/.installed"], model_service, timeout=900)  # what model-lock runs in
    run([".venv-train/bin/python", "-c", FUTURE_MODEL, str(model)], model_service)
    run(["make", "model-lock", f"MODEL={model}"], model_service)
    environment = {**os.environ, "MODEL_LOCK": str(tmp_path / "model.lock.json"), "PYTHONPATH": "src"}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    [runtime] = re.findall(
        r"^onnxruntime==(\S+)", (model_service / "requirements" / "prod.txt").read_text(), re.M
    )

    # At build: the Dockerfile's check of the model.
    checked = execute([".venv/bin/python", "-m", "orders_service.model"], model_service, environment)
    assert checked.returncode == 1
    assert f"incompatible: onnxruntime {runtime} cannot run the model" in checked.stderr
    assert "opsets ai.onnx 99" in checked.stderr
    # At start: never ready, and /ready names the cause.
    answered = run([".venv/bin/python", "-c", READY], model_service, environment)
    assert answered.splitlines()[-1] == "503 unavailable: incompatible"


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
