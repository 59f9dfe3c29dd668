"""deploy/kubernetes: every overlay builds, every object validates strictly against the
schemas of named Kubernetes versions, the pods meet the "restricted" Pod Security Standard
and agree with the Dockerfile, no secret is in the manifests, and the pod specs run for
real (with Docker, as a kubelet would run them) with the service's image."""

from __future__ import annotations

import functools
import json
import re
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import crds
import kubernetes_validate
import pytest
import yaml
from dockerized import docker, wait_for
from kube import PodRun, Pods, all_containers, backing_services, build, pod_templates, restricted_violations
from support import (
    DATABASES,
    DEPLOYED,
    FASTAPI_MODEL,
    FLASK_EVERY_SERVICE_311,
    FRAMEWORKS,
    WORKERS,
    answer_id,
    answers_for,
    combination_id,
    render,
    with_model,
)
from test_locks import group

# Named versions the objects are validated against: the oldest and the newest that the
# Kubernetes project supported on 2026-11-01.
KUBERNETES_VERSIONS = ("1.32", "1.35")
SHAPES = [
    (framework, database, worker) for framework in FRAMEWORKS for database in DATABASES for worker in WORKERS
]


@pytest.fixture(scope="session")
def with_kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A service rendered with the Kubernetes target (no lock step), once per shape."""
    cache: dict[tuple[str, ...], Path] = {}

    def get(*shape: str) -> Path:
        if shape not in cache:
            destination = tmp_path_factory.mktemp("kubernetes") / combination_id(shape)
            answers = answers_for(*shape, "uv", deploy_targets=["kubernetes"])
            cache[shape] = render(destination, answers, skip_tasks=True)
        return cache[shape]

    return get


def overlays(project: Path) -> list[Path]:
    found = sorted((project / "deploy" / "kubernetes" / "overlays").iterdir())
    assert found, "no overlay"
    return found


@pytest.mark.parametrize("shape", SHAPES, ids=combination_id)
def test_every_overlay_builds_and_each_object_validates_strictly(with_kubernetes, shape) -> None:
    project = with_kubernetes(*shape)
    for overlay in [project / "deploy" / "kubernetes" / "base", *overlays(project)]:
        for thing in build(overlay):
            validate(thing)


def validate(thing: dict) -> None:
    """Against its CRD's published schema (the Gateway API's), or Kubernetes' own."""
    if crds.knows(thing):
        assert crds.violations(thing) == [], thing["metadata"]["name"]
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(thing, version, strict=True)


def test_crd_validation_refuses_a_field_or_value_the_gateway_api_does_not_have(with_kubernetes) -> None:
    objects = build(overlays(with_kubernetes("fastapi", "postgresql", "none"))[0])
    route = next(t for t in objects if t["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["backendRef"] = route["spec"]["rules"][0]["backendRefs"]
    assert crds.violations(route) == [
        "spec/rules/0: Additional properties are not allowed ('backendRef' was unexpected)"
    ]
    gateway = next(t for t in objects if t["kind"] == "Gateway")
    gateway["spec"]["listeners"][0]["tls"]["mode"] = "Terminated"
    assert len(crds.violations(gateway)) == 1


def caddy_headers(project: Path) -> dict[str, str]:
    """The response headers proxy/Caddyfile sets on the compose and Swarm edge."""
    block = re.search(r"\n\theader \{\n(.*?)\n\t\}", (project / "proxy" / "Caddyfile").read_text(), re.DOTALL)
    headers = {}
    for line in block.group(1).splitlines():
        name, _, value = line.strip().partition(" ")
        if not name.startswith("-"):
            headers[name] = value.strip('"')
    return headers


def test_the_gateway_ends_tls_redirects_http_and_routes_all_but_metrics_to_the_app(with_kubernetes) -> None:
    project = with_kubernetes("fastapi", "postgresql", "celery")
    objects = build(overlays(project)[0])
    (gateway,) = [t for t in objects if t["kind"] == "Gateway"]
    (service,) = [t for t in objects if t["kind"] == "Service"]
    routes = {t["metadata"]["name"]: t for t in objects if t["kind"] == "HTTPRoute"}
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}

    https = listeners["https"]
    assert (https["protocol"], https["port"], https["tls"]["mode"]) == ("HTTPS", 443, "Terminate")
    assert https["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "orders-service-tls"}]
    assert https["hostname"] == "orders-service.example.com"
    # cert-manager's Gateway support makes that Secret's certificate from this issuer.
    assert gateway["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    assert (listeners["http"]["protocol"], listeners["http"]["port"]) == ("HTTP", 80)

    # Plain HTTP: every request redirected to HTTPS, none sent to the app.
    redirect = routes["orders-service-redirect"]
    assert redirect["spec"]["parentRefs"] == [{"name": "orders-service", "sectionName": "http"}]
    (rule,) = redirect["spec"]["rules"]
    assert "backendRefs" not in rule
    assert rule["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]

    # HTTPS: everything to the Service, with the edge's headers; /metrics to a path the
    # app does not serve.
    route = routes["orders-service"]
    assert route["spec"]["parentRefs"] == [{"name": "orders-service", "sectionName": "https"}]
    port = service["spec"]["ports"][0]["port"]
    by_path = {rule["matches"][0]["path"]["value"]: rule for rule in route["spec"]["rules"]}
    assert set(by_path) == {"/", "/metrics"}
    for rule in by_path.values():
        assert rule["backendRefs"] == [{"name": service["metadata"]["name"], "port": port}]
    (rewrite,) = by_path["/metrics"]["filters"]
    hidden = rewrite["urlRewrite"]["path"]["replaceFullPath"]
    assert not hidden.startswith("/metrics")
    (headers,) = by_path["/"]["filters"]
    modifier = headers["responseHeaderModifier"]
    assert {h["name"]: h["value"] for h in modifier["set"]} == caddy_headers(project)
    assert modifier["remove"] == ["Server"]


def test_strict_validation_refuses_a_field_kubernetes_does_not_have(with_kubernetes) -> None:
    deployment = next(
        t
        for t in build(overlays(with_kubernetes("fastapi", "postgresql", "none"))[0])
        if t["kind"] == "Deployment"
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("shape", SHAPES, ids=combination_id)
def test_pods_meet_the_restricted_standard_and_agree_with_the_dockerfile(with_kubernetes, shape) -> None:
    project = with_kubernetes(*shape)
    dockerfile = (project / "Dockerfile").read_text()
    user, group = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE).groups()
    exposed = int(re.search(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE).group(1))
    for overlay in overlays(project):
        objects = build(overlay)
        namespace = next(t for t in objects if t["kind"] == "Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        pods = pod_templates(objects)
        expected = {"orders-service"}
        if shape[2] == "celery":
            expected |= {"orders-service-worker", "orders-service-beat"}
        if shape[1] == "postgresql":
            expected.add("orders-service-backup")
        assert set(pods) == expected
        for name, pod in pods.items():
            assert restricted_violations(pod) == [], name
            assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
                int(user),
                int(group),
            )
            for container in all_containers(pod):
                ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
                assert set(ports.values()) <= {exposed, worker_metrics_port(project)}
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if "httpGet" in container.get(probe, {}):
                        assert ports[container[probe]["httpGet"]["port"]] == exposed
        # Every Deployment says when its pods are ready, the worker's too ("consuming"), the
        # scheduler's ("ticking"); the backup Job's pod ends.
        deployments = {t["metadata"]["name"] for t in objects if t["kind"] == "Deployment"}
        for name in deployments:
            assert all("readinessProbe" in container for container in pods[name]["containers"]), name
        app = pods["orders-service"]
        probes = {
            probe: app["containers"][0][probe]["httpGet"]["path"]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe")
        }
        assert probes == {"startupProbe": "/health", "livenessProbe": "/health", "readinessProbe": "/ready"}
        service = next(t for t in objects if t["kind"] == "Service")
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        if shape[2] == "celery":
            # Exactly one scheduler: one pod, the old one stopped before a new one starts.
            beat = next(t for t in objects if t["metadata"]["name"] == "orders-service-beat")
            assert (beat["spec"]["replicas"], beat["spec"]["strategy"]) == (1, {"type": "Recreate"})
            assert "orders-service-beat" not in {
                t["spec"]["scaleTargetRef"]["name"] for t in objects if t["kind"] == "HorizontalPodAutoscaler"
            }


def worker_metrics_port(project: Path) -> int | None:
    """The worker's metrics port, as settings.py defaults it (None: no worker)."""
    settings = (project / "src/orders_service/settings.py").read_text()
    found = re.search(r"^    worker_metrics_port: int = (\d+)$", settings, re.MULTILINE)
    return int(found.group(1)) if found else None


def scrape_targets(objects: list[dict]) -> dict[str, tuple[int, str]]:
    """Each workload Prometheus scrapes, by the prometheus.io annotations of its pods: the
    port and the path."""
    targets = {}
    for thing in objects:
        if thing["kind"] == "Deployment":
            annotations = thing["spec"]["template"]["metadata"].get("annotations", {})
            if annotations.get("prometheus.io/scrape") == "true":
                port = int(annotations["prometheus.io/port"])
                targets[thing["metadata"]["name"]] = (port, annotations["prometheus.io/path"])
    return targets


@pytest.mark.parametrize("shape", SHAPES, ids=combination_id)
def test_every_workload_is_scraped_on_a_port_it_declares_and_its_policy_lets_in(
    with_kubernetes, shape
) -> None:
    project = with_kubernetes(*shape)
    objects = build(overlays(project)[0])
    targets = scrape_targets(objects)
    pods = pod_templates(objects)
    # Every workload that serves is scraped; the scheduler and the backup Job serve nothing.
    serving = {name for name, pod in pods.items() if any("ports" in c for c in pod["containers"])}
    assert set(targets) == serving
    assert set(pods) - serving <= {"orders-service-beat", "orders-service-backup"}
    policies = {
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: policy
        for policy in objects
        if policy["kind"] == "NetworkPolicy"
    }
    for thing in objects:
        if thing["kind"] != "Deployment" or thing["metadata"]["name"] not in serving:
            continue
        port, path = targets[thing["metadata"]["name"]]
        assert path == "/metrics"
        [container] = thing["spec"]["template"]["spec"]["containers"]
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert port in named.values()
        component = thing["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        allowed = [
            named.get(rule_port["port"], rule_port["port"])
            for rule in policies[component]["spec"]["ingress"]
            for rule_port in rule["ports"]
        ]
        assert port in allowed, (component, allowed)
    if shape[2] == "celery":
        assert targets["orders-service-worker"][0] == worker_metrics_port(project)


@pytest.mark.parametrize("shape", SHAPES, ids=combination_id)
def test_the_image_is_named_in_one_place_by_digest_and_no_secret_is_in_the_manifests(
    with_kubernetes, shape
) -> None:
    project = with_kubernetes(*shape)
    for overlay in overlays(project):
        kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        (image,) = kustomization["images"]
        objects = build(overlay)
        used = {c["image"] for pod in pod_templates(objects).values() for c in all_containers(pod)}
        # By digest, as published and attested: a tag can be moved to another image.
        assert "newTag" not in image
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", image["digest"])
        # The service's image everywhere, but in the backup Job: the image of compose.yaml's
        # database, whose pg_dump is the server's version.
        expected = {f"{image['newName']}@{image['digest']}"}
        if shape[1] == "postgresql":
            expected.add(yaml.safe_load((project / "compose.yaml").read_text())["services"]["db"]["image"])
        assert used == expected
        rendered = json.dumps(objects)
        assert "Secret" not in {t["kind"] for t in objects}
        # No URL carries credentials and no value looks like a password.
        assert not re.search(r"://[^/\s\"@]*:[^/\s\"@]+@", rendered)
        assert "PASSWORD=" not in rendered
        # The Secret reaches the pods as files only (a value in the environment is in every
        # process's /proc/<pid>/environ), and no probe or command reads it.
        for pod in pod_templates(objects).values():
            for container in all_containers(pod):
                assert not [e for e in container.get("envFrom", []) if "secretRef" in e]
                assert not [e for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
                commands = [container.get("command"), container.get("args")] + [
                    container.get(probe) for probe in ("livenessProbe", "readinessProbe", "startupProbe")
                ]
                assert "/run/secrets" not in json.dumps(commands)
            mounted = [v for v in pod.get("volumes", []) if "secret" in v]
            assert all(v["secret"]["secretName"] == "orders-service" for v in mounted)


def fetch(network: str, image: str, url: str, what: str = "read().decode()") -> str:
    """GET from another container on the pods' network (as a kubelet's probe or Prometheus
    would): the response's `what`, or "" when it does not answer."""
    script = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=3).{what})"
    run = ("run", "--rm", "--network", network, "--entrypoint", "python", image, "-c", script)
    return docker(*run, check=False).stdout.strip()


# Both frameworks, each with every backing service: their images are built by the
# container tests too, so the layers are cached.
RUN_FOR_REAL = [
    pytest.param(DEPLOYED, id="fastapi", marks=pytest.mark.xdist_group(group(DEPLOYED))),
    pytest.param({**FLASK_EVERY_SERVICE_311, "deploy_targets": ["kubernetes"]}, id="flask"),
    # With a model: the startup probe waits for it, and the worker's task scores with it.
    pytest.param(FASTAPI_MODEL, id="fastapi-model", marks=pytest.mark.xdist_group(group(FASTAPI_MODEL))),
]


@pytest.fixture(scope="module")
def image_of() -> Iterator[Callable[[Path, dict], str]]:
    """The production image of a service of these answers (with its model, if it serves
    one), built once for the module's tests, from the first copy they give."""
    built: dict[str, str] = {}

    def get(project: Path, answers: dict) -> str:
        key = answer_id(answers)
        if key not in built:
            if answers.get("model") == "onnx":
                with_model(project)
            image = f"pst-kube-{uuid.uuid4().hex[:8]}"
            python = answers.get("python_version", "3.13")
            docker("build", "--build-arg", f"PYTHON_VERSION={python}", "--tag", image, ".", cwd=project)
            built[key] = image
        return built[key]

    yield get
    if built:
        docker("image", "rm", "--force", *built.values(), check=False)


@pytest.mark.parametrize("answers", RUN_FOR_REAL)
def test_the_pod_specs_run_for_real_with_the_image(locked, image_of, tmp_path: Path, answers: dict) -> None:
    project = tmp_path / "service"
    shutil.copytree(locked(**answers), project)
    image = image_of(project, answers)
    network = f"pst-kube-{uuid.uuid4().hex[:8]}"
    docker("network", "create", network)
    secret_files = tmp_path / "secret"
    secret_files.mkdir(mode=0o755)
    runs: list[PodRun] = []
    try:
        with backing_services(network, secrets.token_hex(12)) as keys:
            for key, value in keys.items():
                (secret_files / key).write_text(value + "\n")  # kubectl create secret --from-file keeps it
                (secret_files / key).chmod(0o444)
            objects = build(overlays(project)[0])
            (config,) = [t["data"] for t in objects if t["kind"] == "ConfigMap"]
            pods = Pods(pod_templates(objects), image, config, secret_files, network, runs)
            app_container, probe = pods.start("orders-service")
            port = probe["ports"][0]["containerPort"]

            def answers_probe(kind: str) -> bool:
                path = probe[kind]["httpGet"]["path"]
                return fetch(network, image, f"http://{app_container}:{port}{path}", "status") == "200"

            try:
                for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                    wait_for(lambda k=kind: answers_probe(k), timeout=90, interval=1)
                worker_container, worker_spec = pods.start("orders-service-worker")
                probe_passes = functools.partial(exec_probe_passes, worker_container, worker_spec)
                wait_for(lambda: probe_passes("livenessProbe"), timeout=90, interval=2)
                wait_for(lambda: probe_passes("readinessProbe"), timeout=30, interval=1)
                # Ready means consuming: cut off from Redis, the worker is not; back, it is.
                redis = re.search(r"@([^:/]+):", keys["REDIS_URL"]).group(1)
                docker("stop", redis)
                wait_for(lambda: not probe_passes("readinessProbe"), timeout=30, interval=1)
                docker("start", redis)
                wait_for(lambda: probe_passes("readinessProbe"), timeout=60, interval=1)
                state = docker(
                    "inspect",
                    "--format",
                    "{{.State.Running}} {{.HostConfig.ReadonlyRootfs}}",
                    app_container,
                    worker_container,
                ).stdout.split()
                assert state == ["true", "true", "true", "true"]
                # Where the annotations send Prometheus, each answers; the app has counted
                # the probes' requests.
                targets = scrape_targets(objects)
                scrapes = {
                    name: f"http://{container}:{targets[name][0]}{targets[name][1]}"
                    for name, container in [
                        ("orders-service", app_container),
                        ("orders-service-worker", worker_container),
                    ]
                }
                assert fetch(network, image, scrapes["orders-service-worker"], "status") == "200"
                assert 'route="/ready"' in fetch(network, image, scrapes["orders-service"])
                if answers.get("model") == "onnx":
                    # The worker pod (read-only root, its model cache on a volume) scores.
                    scored = docker("exec", app_container, "python", "-c", SCORE).stdout
                    assert len(json.loads(scored)["label"]) == 2
                assert_the_scheduler_pod_schedules(pods)
                if answers.get("database", "postgresql") == "postgresql":
                    assert_the_backup_jobs_pod_writes_a_dump(pods, tmp_path)
            except AssertionError:
                for name in (*runs[0].started, *(runs[-1].started if len(runs) > 1 else [])):
                    logs = docker("logs", "--timestamps", name, check=False)
                    print(f"--- {name}\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")
                raise
    finally:
        for run in runs:
            run.remove()
        docker("network", "rm", network, check=False)


def exec_probe_passes(container: str, spec: dict, kind: str) -> bool:
    """Whether the container spec's exec probe of this kind passes, run as a kubelet runs it."""
    return docker("exec", container, *spec[kind]["exec"]["command"], check=False).returncode == 0


def assert_the_scheduler_pod_schedules(pods: Pods) -> None:
    """The beat pod holds RedBeat's lock in the Secret's Redis and ticks: its probes pass."""
    container, spec = pods.start("orders-service-beat")
    probe_passes = functools.partial(exec_probe_passes, container, spec)
    wait_for(lambda: "beat: Acquired lock" in docker("logs", container).stdout, timeout=60, interval=1)
    wait_for(lambda: probe_passes("readinessProbe"), timeout=30, interval=1)
    assert probe_passes("livenessProbe")


def assert_the_backup_jobs_pod_writes_a_dump(pods: Pods, tmp_path: Path) -> None:
    """The CronJob's pod: its init container copies the image's script out, and the
    postgres image's pg_dump writes the Secret's database to the claim, then ends."""
    claim = tmp_path / "backups"
    claim.mkdir()
    claim.chmod(0o777)  # fsGroup's stand-in
    container, _ = pods.start("orders-service-backup", claims={"orders-service-backups": claim})
    assert docker("wait", container, timeout=120).stdout.strip() == "0", docker("logs", container).stdout
    (dump,) = claim.glob("*.dump")
    assert re.fullmatch(r"orders_service-\d{8}T\d{6}Z\.dump", dump.name)
    assert dump.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format, what make restore reads
    (line,) = [json.loads(line) for line in docker("logs", container).stdout.splitlines()]
    assert line["level"] == "INFO"
    assert line["message"].startswith(f"backup: wrote {dump.name}")


# Run in the app's container: a batch scored by the worker's task, through Redis.
SCORE = """
import json
from orders_service.scoring import score
print(json.dumps(score.delay([[0.5] * 8, [-1.0] * 8]).get(timeout=60)))
"""
# Run on the pods' network: the status and body of GET `url`, 503s included.
STATUS_AND_BODY = """
import sys, urllib.error, urllib.request
try:
    answer = urllib.request.urlopen(sys.argv[1], timeout=3)
except urllib.error.HTTPError as error:
    answer = error
print(answer.status, answer.read().decode())
"""


def model_overlays(project: Path) -> list[Path]:
    """The production overlay, and one that adds the model-volume component to it."""
    kube = project / "deploy" / "kubernetes"
    with_volume = kube / "overlays" / "production-model-volume"
    with_volume.mkdir()
    (with_volume / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources:\n  - ../production\n"
        "components:\n  - ../../components/model-volume\n"
    )
    return [kube / "overlays" / "production", with_volume]


def test_a_model_service_starts_once_its_model_is_served_and_may_take_it_from_a_volume(
    tmp_path: Path,
) -> None:
    answers = answers_for("fastapi", "none", "celery", "uv", model="onnx", deploy_targets=["kubernetes"])
    project = render(tmp_path / "service", answers, skip_tasks=True)
    baked, with_volume = model_overlays(project)
    for overlay in (baked, with_volume):
        objects = build(overlay)
        for thing in objects:
            validate(thing)
        (config,) = [t["data"] for t in objects if t["kind"] == "ConfigMap"]
        pods = pod_templates(objects)
        assert sorted(pods) == ["orders-service", "orders-service-beat", "orders-service-worker"]
        # The pods that load the model (the scheduler sends tasks, and runs none).
        for name, pod in [(name, pods[name]) for name in ("orders-service", "orders-service-worker")]:
            assert restricted_violations(pod) == [], name
            volumes = {volume["name"]: volume for volume in pod["volumes"]}
            mounts = {mount["mountPath"]: mount for mount in pod["containers"][0]["volumeMounts"]}
            # A fetched model is kept on the node's disk: the root is read-only, /tmp in memory.
            cache = volumes[mounts[config["MODEL_CACHE_DIR"]]["name"]]
            assert "medium" not in cache["emptyDir"]
            environment = {v["name"]: v["value"] for v in pod["containers"][0].get("env", [])}
            if overlay == with_volume:
                claim = volumes[mounts["/models"]["name"]]["persistentVolumeClaim"]
                assert claim == {"claimName": "orders-service-model", "readOnly": True}
                assert mounts["/models"]["readOnly"] is True
                assert environment == {"MODEL_DIR": "/models"}
            else:
                assert "/models" not in mounts
                assert environment == {}
        app = pods["orders-service"]["containers"][0]
        assert app["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert app["readinessProbe"]["httpGet"]["path"] == "/ready"


@pytest.mark.xdist_group(group(FASTAPI_MODEL))
def test_a_model_pod_serves_only_the_locked_model_from_its_volume(locked, image_of, tmp_path: Path) -> None:
    """The model-volume component's pod, run for real: with a changed file on the claim it
    never starts (its startup probe fails, /ready names the cause); with the locked file it
    does."""
    project = tmp_path / "service"
    shutil.copytree(locked(**FASTAPI_MODEL), project)
    image = image_of(with_model(project), FASTAPI_MODEL)
    objects = build(model_overlays(project)[1])
    (config,) = [t["data"] for t in objects if t["kind"] == "ConfigMap"]
    templates = pod_templates(objects)
    probe = templates["orders-service"]["containers"][0]["startupProbe"]["httpGet"]["path"]
    model = (project / "model" / "model.onnx").read_bytes()
    network = f"pst-kube-{uuid.uuid4().hex[:8]}"
    docker("network", "create", network)
    secret_files = tmp_path / "secret"
    secret_files.mkdir(mode=0o755)
    pods = Pods(templates, image, config, secret_files, network)

    def answer(container: str, path: str) -> tuple[int, dict]:
        url = f"http://{container}:8000{path}"
        said = docker(
            *("run", "--rm", "--network", network, "--entrypoint", "python", image),
            *("-c", STATUS_AND_BODY, url),
            check=False,
        ).stdout.strip()
        status, _, body = said.partition(" ")
        return int(status), json.loads(body)

    def pod_with_on_its_claim(content: bytes) -> str:
        """A pod of the component's spec whose claim holds `content` as the model: its
        container, once the model is no longer loading."""
        claim = tmp_path / f"claim-{len(pods.runs)}"
        claim.mkdir(mode=0o755)
        (claim / "model.onnx").write_bytes(content)
        (claim / "model.onnx").chmod(0o644)
        container, _ = pods.start("orders-service", claims={"orders-service-model": claim})
        wait_for(lambda: answer(container, "/ready")[1]["checks"]["model"] != "unavailable: loading", 60)
        return container

    try:
        with backing_services(network, secrets.token_hex(12)) as keys:
            for key, value in keys.items():
                (secret_files / key).write_text(value + "\n")
                (secret_files / key).chmod(0o444)

            changed = pod_with_on_its_claim(model[:-1] + bytes([model[-1] ^ 1]))
            status, body = answer(changed, "/ready")
            assert (status, body["checks"]["model"]) == (503, "unavailable: checksum mismatch")
            assert answer(changed, probe)[0] == 503

            locked_file = pod_with_on_its_claim(model)
            assert answer(locked_file, "/ready") == (
                200,
                {"status": "ready", "checks": {"model": "ok", "redis": "ok"}},
            )
            assert answer(locked_file, probe) == (200, {"ready": True})
    finally:
        pods.remove()
        docker("network", "rm", network, check=False)
