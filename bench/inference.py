"""Serving a model: this template's service against the serving frameworks, a plain
endpoint and ONNX Runtime alone, side by side in one run.

Conditions (those of issue 27's table, so the figures compare):
- Two ONNX MLPs made here with onnx.helper from a fixed seed, never downloaded:
  small, 32 -> 256 -> 256 -> 4; MLP, 256 -> 2048 -> 2048 -> 10 (about 4.7 M multiply-adds
  a row).
- Each server runs on CPU 0 alone (taskset); `wrk -t1 -c16 --latency` runs on CPU 1.
- The body is JSON, `{"instances": [[...floats...]]}`: one row, or 32 rows of the MLP.
- Workloads: small model one row; MLP one row (16 concurrent clients: where merging
  requests pays); MLP 32 rows a request (rows/s).

Servers:
- ORT alone: ONNX Runtime in one process, no HTTP (the limit); one thread.
- hand-written: an `async def` FastAPI endpoint calling ONNX Runtime on the event loop,
  under uvicorn; "def" is the same endpoint as `def` (Starlette's thread pool).
- BentoML and LitServe (PEERS' versions), with and without their batching.
- ours: a service generated with model=onnx, each framework, as its production server
  runs it (gunicorn + uvicorn's worker, or granian; processes and threads from the CPUs it
  may use), logs in JSON with the access log on, metrics on.

Also measured: the time to parse and check a request body in the service's process
(what bounds a one-row request), and the production image's size with and without the
model (Docker).

    .venv/bin/python bench/inference.py [--repeat 3] [--seconds 8] [--skip-images]

Needs wrk (apt-get install wrk), the package index (a venv for the peers) and, for the
image sizes, Docker. Writes bench/results/inference.json and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import generate, report, sh, spread, summary
from containers import free_port

PEERS = ("bentoml==1.4.40", "litserve==0.2.19", "onnxruntime==1.32.0", "onnx==1.20.0")
# The peers' web stack, and what makes the models.
PEER_EXTRAS = ("fastapi", "uvicorn", "numpy")
PACKAGE = "bench_service"
SERVER_CPU = "0"
CLIENT_CPU = "1"
CONNECTIONS = 16
MODELS = {"small": (32, 256, 256, 4), "mlp": (256, 2048, 2048, 10)}
# (label, model, rows a request)
WORKLOADS = [("small, 1 row", "small", 1), ("MLP, 1 row", "mlp", 1), ("MLP, 32 rows", "mlp", 32)]
# Other batching settings than the service's defaults (MODEL_MAX_BATCH_ROWS=64, no wait),
# on the workload where merging requests pays: what the defaults are chosen against.
BATCHING_WORKLOAD = "MLP, 1 row"
BATCHING_VARIANTS = {
    "ours, fastapi, MODEL_MAX_BATCH_ROWS=4": {"MODEL_MAX_BATCH_ROWS": "4"},
    "ours, fastapi, MODEL_MAX_BATCH_ROWS=16": {"MODEL_MAX_BATCH_ROWS": "16"},
    "ours, fastapi, MODEL_MAX_BATCH_ROWS=256": {"MODEL_MAX_BATCH_ROWS": "256"},
    "ours, fastapi, MODEL_MAX_WAIT_MS=2": {"MODEL_MAX_WAIT_MS": "2"},
    "ours, fastapi, no batching (MODEL_MAX_BATCH_ROWS=1)": {"MODEL_MAX_BATCH_ROWS": "1"},
}

MAKE_MODELS = """
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

def mlp(sizes, seed):
    rng = np.random.default_rng(seed)
    nodes, weights, previous = [], [], "features"
    for i, (given, made) in enumerate(zip(sizes, sizes[1:])):
        scaled = rng.standard_normal((given, made)) / np.sqrt(given)
        w = numpy_helper.from_array(scaled.astype(np.float32), f"w{i}")
        b = numpy_helper.from_array(np.zeros(made, np.float32), f"b{i}")
        weights += [w, b]
        out = "scores" if i == len(sizes) - 2 else f"h{i}"
        gemm = f"g{i}" if out != "scores" else "scores"
        nodes.append(helper.make_node("Gemm", [previous, f"w{i}", f"b{i}"], [gemm]))
        if out != "scores":
            nodes.append(helper.make_node("Relu", [gemm], [out]))
        previous = out
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, sizes[0]])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, sizes[-1]])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model

for name, sizes in %(models)r.items():
    onnx.save(mlp(sizes, 7), f"{sys.argv[1]}/{name}.onnx")
"""

ORT_ALONE = """
import json, sys, time
import numpy as np
import onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
features = session.get_inputs()[0].shape[1]
rows = np.random.default_rng(1).standard_normal((int(sys.argv[2]), features)).astype(np.float32)
for _ in range(50):
    session.run(None, {"features": rows})
calls, started = 0, time.perf_counter()
while time.perf_counter() - started < float(sys.argv[3]):
    session.run(None, {"features": rows})
    calls += 1
print(json.dumps(calls * len(rows) / (time.perf_counter() - started)))
"""

HAND_WRITTEN = """
import os
import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(os.environ["MODEL"], options, providers=["CPUExecutionProvider"])
app = FastAPI()

class Body(BaseModel):
    instances: list[list[float]]

if os.environ.get("THREAD_POOL"):
    @app.post("/predict")
    def predict(body: Body) -> dict:
        rows = np.asarray(body.instances, np.float32)
        return {"scores": session.run(None, {"features": rows})[0].tolist()}
else:
    @app.post("/predict")
    async def predict(body: Body) -> dict:
        rows = np.asarray(body.instances, np.float32)
        return {"scores": session.run(None, {"features": rows})[0].tolist()}
"""

BENTO = """
import os
import bentoml
import numpy as np
import onnxruntime as ort

def session():
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(os.environ["MODEL"], options, providers=["CPUExecutionProvider"])

@bentoml.service(workers=1)
class Plain:
    def __init__(self) -> None:
        self.session = session()

    @bentoml.api(route="/predict")
    def predict(self, instances: list[list[float]]) -> dict:
        rows = np.asarray(instances, np.float32)
        return {"scores": self.session.run(None, {"features": rows})[0].tolist()}

@bentoml.service(workers=1)
class Batched:
    def __init__(self) -> None:
        self.session = session()

    @bentoml.api(route="/predict", batchable=True, max_batch_size=64, max_latency_ms=100)
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"features": instances.astype(np.float32)})[0]
"""

LIT = """
import os, sys
import litserve as ls
import numpy as np
import onnxruntime as ort

class Plain(ls.LitAPI):
    def setup(self, device):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(os.environ["MODEL"], options, providers=["CPUExecutionProvider"])

    def decode_request(self, request):
        return np.asarray(request["instances"], np.float32)

    def predict(self, rows):
        return self.session.run(None, {"features": rows})[0]

    def encode_response(self, output):
        return {"scores": output.tolist()}

class Batched(Plain):
    def batch(self, inputs):
        self.rows = [len(rows) for rows in inputs]
        return np.concatenate(inputs)

    def unbatch(self, output):
        return np.split(output, np.cumsum(self.rows)[:-1])

if __name__ == "__main__":
    batched = os.environ.get("BATCHED") == "1"
    api = Batched(max_batch_size=64, batch_timeout=0.005) if batched else Plain()
    ls.LitServer(api, accelerator="cpu", workers_per_device=1).run(
        host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False, log_level="warning"
    )
"""

PARSE_COST = """
import json, sys, timeit
from pathlib import Path
from %(package)s.inference import predict_models, predict_rows
from %(package)s.model_lock import ModelLock
lock = ModelLock.read(Path("model/model.lock.json"))
predict_in, _ = predict_models(lock, 1024)
body = Path(sys.argv[1]).read_text()
def parse():
    return predict_rows(lock, predict_in.model_validate_json(body).instances)
runs = 2000
print(json.dumps(min(timeit.repeat(parse, number=runs, repeat=5)) / runs))
"""


def body(features: int, rows: int) -> str:
    values = [[round(0.01 * ((i * 7 + j * 3) % 200) - 1, 2) for j in range(features)] for i in range(rows)]
    return json.dumps({"instances": values})


def answering(url: str, payload: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Wait until a POST of `payload` to `url` answers 200 (the server's log otherwise)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline and process.poll() is None:
        request = urllib.request.Request(
            url, data=payload.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError) as error:
            last = error
        time.sleep(0.3)
    sys.exit(f"{url} did not answer in {timeout} s: {last}\n{log.read_text()[-3000:]}")


@contextmanager
def server(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`command` on CPU 0, in a process group of its own (the frameworks start children)."""
    with log.open("w") as output:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *command],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        # What is left of its group (a framework's workers) must not share the next one's CPU.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wrk(url: str, payload: str, seconds: int, scratch: Path) -> dict[str, float]:
    script = scratch / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(payload)}\n"
    )
    output = sh(
        "taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
        "-s", str(script), url,
    )  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rate": rate,
        "p99_ms": float(p99.group(1)) * scale,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, failed.groups())) if failed else 0,
    }


def peers_environment(scratch: Path) -> Path:
    """A venv with the peers at PEERS' versions (and the makers of the models)."""
    venv = scratch / "peers"
    sh(sys.executable, "-m", "venv", str(venv))
    sh(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *PEERS, *PEER_EXTRAS)
    return venv / "bin" / "python"


def our_service(scratch: Path, framework: str) -> Path:
    project = scratch / f"ours-{framework}"
    generate(project, f"framework={framework}", "model=onnx", "lock_tool=uv", "database=none")
    sh("git", "init", "-q", cwd=project)
    sh("make", "sync", cwd=project)  # .venv: the interpreter, and what PARSE_COST imports
    sh("make", ".venv-train/.installed", cwd=project)  # what locks a model
    # What the production image installs (prod.txt, gunicorn or granian included).
    sh(".venv/bin/python", "-m", "venv", ".venv-prod", cwd=project)
    prod = ("--require-hashes", "--no-deps", "-r", "requirements/prod.txt")
    sh(".venv-prod/bin/python", "-m", "pip", "install", "--quiet", *prod, cwd=project)
    return project


def lock_model(project: Path, model: Path) -> None:
    shutil.copy(model, project / "model" / "model.onnx")
    sh(".venv-train/bin/python", "tools/model_lock.py", "model/model.onnx", "--name", "bench", cwd=project)


def our_command(project: Path, framework: str) -> list[str]:
    if framework == "fastapi":
        return [".venv-prod/bin/gunicorn", "--config", "gunicorn.conf.py", f"{PACKAGE}.app:create_app()"]
    return [".venv-prod/bin/python", "-m", f"{PACKAGE}.serve"]


def our_environment(port: int, metrics: Path) -> dict[str, str]:
    if metrics.exists():
        shutil.rmtree(metrics)
    metrics.mkdir()
    return {
        "BIND": f"127.0.0.1:{port}",
        "PYTHONPATH": "src",  # as the image's PYTHONPATH=/app/src
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "ENVIRONMENT": "production",
    }


def measure(arguments: argparse.Namespace, scratch: Path) -> dict:
    python = peers_environment(scratch)
    models = scratch / "models"
    models.mkdir()
    sh(str(python), "-c", MAKE_MODELS % {"models": MODELS}, str(models))
    bodies = {(model, rows): body(MODELS[model][0], rows) for _, model, rows in WORKLOADS}
    ours = {framework: our_service(scratch, framework) for framework in ("fastapi", "flask")}
    (scratch / "peers-code").mkdir()
    (scratch / "logs").mkdir()
    for name, code in {"hand_written.py": HAND_WRITTEN, "bento_service.py": BENTO, "lit.py": LIT}.items():
        (scratch / "peers-code" / name).write_text(textwrap.dedent(code))
    code = scratch / "peers-code"
    bin_ = python.parent

    def servers(model: str) -> dict[str, tuple[list[str], Path, dict[str, str], str]]:
        """Each server's command, folder, environment and path, for `model`, on a port."""
        path = str(models / f"{model}.onnx")
        common = {"MODEL": path, "BENTOML_DO_NOT_TRACK": "true", "BENTOML_HOME": str(scratch / "bentoml")}
        found = {
            "hand-written FastAPI (async def)": (
                [str(bin_ / "uvicorn"), "hand_written:app", "--log-level", "warning"],
                code, common, "/predict",
            ),
            "the same as def (thread pool)": (
                [str(bin_ / "uvicorn"), "hand_written:app", "--log-level", "warning"],
                code, {**common, "THREAD_POOL": "1"}, "/predict",
            ),
            "BentoML": ([str(bin_ / "bentoml"), "serve", "bento_service:Plain"], code, common, "/predict"),
            "BentoML, adaptive batching": (
                [str(bin_ / "bentoml"), "serve", "bento_service:Batched"], code, common, "/predict",
            ),
            "LitServe": ([str(python), "lit.py"], code, common, "/predict"),
            "LitServe, batching": ([str(python), "lit.py"], code, {**common, "BATCHED": "1"}, "/predict"),
        }  # fmt: skip
        for framework, project in ours.items():
            found[f"ours, {framework}"] = (our_command(project, framework), project, {}, "/predict")
        for name, settings in BATCHING_VARIANTS.items():
            found[name] = (our_command(ours["fastapi"], "fastapi"), ours["fastapi"], settings, "/predict")
        return found

    results: dict = {"workloads": {}, "ort_alone": {}}
    seconds = str(arguments.seconds)
    for label, model, rows in WORKLOADS:
        onnx_file = str(models / f"{model}.onnx")
        alone = [
            float(sh(str(python), "-c", ORT_ALONE, onnx_file, str(rows), seconds))
            for _ in range(arguments.repeat)
        ]
        results["ort_alone"][label] = summary(alone)
        print(f"{label}: ORT alone {spread(summary(alone), 'rows/s', 0)}", flush=True)
        for project in ours.values():
            lock_model(project, models / f"{model}.onnx")
        results["workloads"][label] = {}
        for name, (command, cwd, env, path) in servers(model).items():
            if name in BATCHING_VARIANTS and label != BATCHING_WORKLOAD:
                continue
            runs = []
            for _ in range(arguments.repeat):
                port = free_port()
                full_env = dict(env)
                if name.startswith("ours"):
                    full_env.update(our_environment(port, scratch / "metrics"))
                    argv = command
                elif name.startswith("BentoML"):
                    argv = [*command, "--port", str(port)]
                elif name.startswith("LitServe"):
                    argv = [*command, str(port)]
                else:
                    argv = [*command, "--port", str(port)]
                url = f"http://127.0.0.1:{port}{path}"
                log = scratch / "logs" / f"{len(list((scratch / 'logs').glob('*')))}.log"
                with server(argv, cwd, full_env, log) as process:
                    answering(url, bodies[(model, rows)], process, log)
                    wrk(url, bodies[(model, rows)], 2, scratch)  # warm-up
                    runs.append(wrk(url, bodies[(model, rows)], arguments.seconds, scratch))
            results["workloads"][label][name] = {
                "requests": summary([r["rate"] for r in runs]),
                "rows": summary([r["rate"] * rows for r in runs]),
                "p99_ms": summary([r["p99_ms"] for r in runs]),
                "non_2xx": sum(r["non_2xx"] for r in runs),
                "socket_errors": sum(r["socket_errors"] for r in runs),
            }
            print(f"{label}: {name}: {cell(results['workloads'][label][name], rows)}", flush=True)
    # What a one-row request costs before the runtime: JSON parsing and checking, in the
    # service's own process (FastAPI's: pydantic's JSON reader, as the endpoint uses it).
    results["parse_seconds"] = {}
    with_source = {**os.environ, "PYTHONPATH": "src"}
    for label, model, rows in WORKLOADS:
        lock_model(ours["fastapi"], models / f"{model}.onnx")
        payload = scratch / "body.json"
        payload.write_text(bodies[(model, rows)])
        script = PARSE_COST % {"package": PACKAGE}
        results["parse_seconds"][label] = float(
            sh(".venv/bin/python", "-c", script, str(payload), cwd=ours["fastapi"], env=with_source)
        )
    if not arguments.skip_images:
        results["images"] = image_sizes(scratch, ours["fastapi"])
    return results


def image_sizes(scratch: Path, with_model: Path) -> dict[str, int]:
    """The production image of a FastAPI service with the example model (make model), and of
    the same service without a model."""
    without = scratch / "ours-without-model"
    generate(without, "framework=fastapi", "model=none", "lock_tool=uv", "database=none")
    sh("make", "model", cwd=with_model)
    sizes = {}
    for name, project in (("with the model", with_model), ("without a model", without)):
        tag = f"bench-inference-{name.replace(' ', '-')}"
        sh("docker", "build", "--tag", tag, ".", cwd=project)
        sizes[name] = int(sh("docker", "image", "inspect", "--format", "{{.Size}}", tag))
        sh("docker", "image", "rm", tag)
    return sizes


def cell(figures: dict, rows: int) -> str:
    rate = figures["rows"] if rows > 1 else figures["requests"]
    unit = "rows/s" if rows > 1 else "req/s"
    text = f"{spread(rate, unit, 0)} / p99 {spread(figures['p99_ms'], 'ms', 1)}"
    if figures["non_2xx"] or figures["socket_errors"]:
        text += f", {figures['non_2xx']} non-2xx, {figures['socket_errors']} socket errors"
    return text


def goals(results: dict) -> list[tuple[str, str, str]]:
    """Issue 27's goals, as ratios within this run: (goal, measured, met)."""
    small = results["workloads"]["small, 1 row"]
    mlp = results["workloads"]["MLP, 1 row"]
    rows32 = results["workloads"]["MLP, 32 rows"]
    limit32 = results["ort_alone"]["MLP, 32 rows"]["median"]
    found = []
    for framework in ("fastapi", "flask"):
        ours = f"ours, {framework}"
        hand = small["hand-written FastAPI (async def)"]
        ratio = small[ours]["requests"]["median"] / hand["requests"]["median"]
        found.append(
            (f"{framework}: small, 1 row: >= 90% of hand-written req/s", f"{ratio:.0%}", ratio >= 0.9)
        )
        for peer in ("BentoML", "LitServe"):
            ratio = small[ours]["requests"]["median"] / small[peer]["requests"]["median"]
            found.append((f"{framework}: small, 1 row: >= 3x {peer} req/s", f"{ratio:.1f}x", ratio >= 3))
            lower = small[ours]["p99_ms"]["median"] < small[peer]["p99_ms"]["median"]
            found.append((f"{framework}: small, 1 row: p99 below {peer}'s", "", lower))
        hand = mlp["hand-written FastAPI (async def)"]
        ratio = mlp[ours]["requests"]["median"] / hand["requests"]["median"]
        found.append((f"{framework}: MLP, 1 row: >= 2x hand-written req/s", f"{ratio:.2f}x", ratio >= 2))
        ratio = mlp[ours]["p99_ms"]["median"] / hand["p99_ms"]["median"]
        found.append((f"{framework}: MLP, 1 row: p99 <= 2x hand-written's", f"{ratio:.2f}x", ratio <= 2))
        ratio = rows32[ours]["rows"]["median"] / limit32
        found.append((f"{framework}: MLP, 32 rows: >= 85% of ORT alone", f"{ratio:.0%}", ratio >= 0.85))
    return [(goal, measured, "yes" if met else "**no**") for goal, measured, met in found]


def table(results: dict) -> list[tuple[str, ...]]:
    rows = [("server", *(label for label, _, _ in WORKLOADS)), ("---",) * (1 + len(WORKLOADS))]
    alone = tuple(spread(results["ort_alone"][label], "rows/s", 0) for label, _, _ in WORKLOADS)
    rows.append(("ONNX Runtime alone (the limit)", *alone))
    names = list(results["workloads"][BATCHING_WORKLOAD])
    for name in names:
        cells = []
        for label, _, count in WORKLOADS:
            figures = results["workloads"][label].get(name)
            cells.append(cell(figures, count) if figures else "")
        rows.append((name, *cells))
    rows.append(("",) * (1 + len(WORKLOADS)))
    rows.append(("goal", "measured", "met", ""))
    rows.extend((goal, measured, met, "") for goal, measured, met in goals(results))
    for label, seconds in results["parse_seconds"].items():
        rows.append((f"parse and check a body ({label})", f"{seconds * 1e6:.0f} µs", "", ""))
    for name, size in results.get("images", {}).items():
        rows.append((f"production image, {name}", f"{size / 1e6:.0f} MB", "", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--skip-images", action="store_true")
    arguments = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 CPUs: the server on one, wrk on the other")
    scratch = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    try:
        results = measure(arguments, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results["conditions"] = {"repeat": arguments.repeat, "seconds": arguments.seconds, "peers": PEERS}
    report("inference", table(results), results)


if __name__ == "__main__":
    main()
