"""Driving a single-node Docker Swarm for the tests of deploy/swarm/stack.yaml: the swarm
itself, a deployed stack, and steady load from a container on the stack's network."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from dockerized import docker, free_port, wait_for

LOAD_CLIENT = (Path(__file__).parent / "load_client.py").read_text()
CREATE_ITEM = """
import json, urllib.request
request = urllib.request.Request("http://app:8000/items", data=json.dumps({"name": "swarm"}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
print(json.load(urllib.request.urlopen(request, timeout=10))["id"])
"""


@contextmanager
def local_registry() -> Iterator[str]:
    """A registry on loopback for the block (Debian's docker-registry, which .ci/run
    installs): its address. The stack takes its image by digest, and Docker knows an
    image's digest only once it was pushed to, or pulled from, a registry."""
    folder = Path(tempfile.mkdtemp(prefix="pst-registry-"))
    address = f"127.0.0.1:{free_port()}"
    config = folder / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {folder / 'data'}\nhttp:\n  addr: {address}\n"
    )
    server = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://{address}/v2/", timeout=2).status == 200, 30)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def published(image: str, registry: str) -> str:
    """`image` (a local tag) pushed to `registry` as CI publishes a release: its reference
    by digest, `<registry>/<name>@sha256:...`."""
    name, _, tag = image.rpartition(":")
    target = f"{registry}/{name}:{tag}"
    docker("tag", image, target)
    docker("push", target)
    digests = docker("image", "inspect", "--format", "{{json .RepoDigests}}", target).stdout
    (reference,) = [d for d in json.loads(digests) if d.startswith(f"{registry}/{name}@")]
    return reference


def next_release(image: str, version: str) -> str:
    """A new release of `image` (a local tag): another image, so another digest, tagged
    `<name>:<version>`."""
    name = image.rpartition(":")[0]
    release = f"{name}:{version}"
    dockerfile = f"FROM {image}\nLABEL org.opencontainers.image.version={version}\n"
    docker("build", "--quiet", "--tag", release, "-", input_=dockerfile)
    return release


@contextmanager
def single_node_swarm() -> Iterator[None]:
    """A swarm on this engine for the block; left as it was found (a test never leaves
    an engine it did not start as a manager)."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state != "active":
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        # The stack meets a swarm that is done starting, as on a cluster that has run a
        # while: its node ready and its ingress network made.
        wait_for(
            lambda: (
                docker("node", "ls", "--format", "{{.Status}}").stdout.split() == ["Ready"]
                and docker("network", "inspect", "ingress", check=False).returncode == 0
            ),
            timeout=60,
            interval=0.5,
        )
    try:
        yield
    finally:
        if state != "active":
            docker("swarm", "leave", "--force", check=False)


def reachable_from_a_test_client(stack_file: Path) -> Path:
    """The stack as users get it, plus what this machine needs to reach it: its kernel has
    no IPVS, so virtual IPs and the routing mesh do not work here. Services answer by DNS
    round robin (dnsrr, which cannot publish through the mesh) and the network takes the
    test's client container."""
    stack = yaml.safe_load(stack_file.read_text())
    for service in stack["services"].values():
        service.setdefault("deploy", {})["endpoint_mode"] = "dnsrr"
        service.pop("ports", None)
    stack["networks"] = {"default": {"attachable": True}}
    override = stack_file.with_name("stack.test.yaml")
    override.write_text(yaml.safe_dump(stack, sort_keys=False))
    return override


@dataclass
class DeployedStack:
    name: str
    image: str
    stack_file: Path
    env: dict[str, str]

    def deploy(self, *options: str, **variables: str) -> None:
        """`docker stack deploy` the file with these variables changed, as a release does."""
        self.env.update(variables)
        docker(
            "stack",
            "deploy",
            *options,
            "--resolve-image",
            "never",
            "--compose-file",
            str(self.stack_file),
            self.name,
            env=self.env,
            timeout=600,
        )

    @property
    def network(self) -> str:
        return f"{self.name}_default"

    def service(self, name: str) -> str:
        return f"{self.name}_{name}"

    def containers(self, service: str) -> list[str]:
        return docker(
            "ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={self.service(service)}"
        ).stdout.split()

    def logs(self, service: str) -> str:
        completed = docker("service", "logs", "--raw", self.service(service))
        return completed.stdout + completed.stderr

    def running_tasks(self, service: str) -> int:
        states = docker(
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
            self.service(service),
        ).stdout.splitlines()
        return sum(state.startswith("Running") for state in states)

    def tasks(self, service: str) -> list[dict]:
        """Every task of the service Docker still keeps (the running ones and up to four
        former ones a slot), as `docker inspect` shows them."""
        ids = docker("service", "ps", "--quiet", "--no-trunc", self.service(service)).stdout.split()
        return json.loads(docker("inspect", *ids).stdout)

    def output(self, task: dict) -> str:
        completed = docker("service", "logs", "--raw", task["ID"], check=False)
        return completed.stdout + completed.stderr

    def started(self, task: dict) -> bool:
        """Whether the task's container started (its command ran), whatever came after."""
        return task["Status"].get("Message") == "started" or bool(self.output(task).strip())

    def describe(self, tasks: list[dict]) -> str:
        """Each task's slot, state, times and error, and the output of those not running."""
        lines = []
        for task in sorted(tasks, key=lambda task: task["CreatedAt"]):
            status = task["Status"]
            exit_code = status.get("ContainerStatus", {}).get("ExitCode")
            lines.append(
                f"slot {task.get('Slot')} created {task['CreatedAt']}: {status['State']} "
                f"({status.get('Message')}) at {status['Timestamp']}, exit {exit_code}: "
                f"{status.get('Err', '')}"
            )
            if status["State"] != "running":
                lines.append(f"  output:\n{self.output(task)[-2000:]}")
        return "\n".join(lines)

    def create_item(self) -> str:
        """POST /items from a client container: the new item's id."""
        return self.client(CREATE_ITEM).strip()

    def client(self, script: str, *args: str) -> str:
        """Run a Python script in a container on the stack's network."""
        return docker(
            "run",
            "--rm",
            "--network",
            self.network,
            "--entrypoint",
            "python",
            self.image,
            "-c",
            script,
            *args,
        ).stdout


@contextmanager
def deployed(
    stack_file: Path, image: str, env: dict[str, str], services: dict[str, int]
) -> Iterator[DeployedStack]:
    """`docker stack deploy` the file, wait until every service runs its replicas, and
    remove the stack (its volumes too) afterwards."""
    stack = DeployedStack(f"pst{uuid.uuid4().hex[:8]}", image, stack_file, dict(env))
    try:
        stack.deploy()
        for service, replicas in services.items():
            wait_for(lambda s=service, r=replicas: stack.running_tasks(s) == r, timeout=240, interval=1)
        yield stack
    except AssertionError:
        for service in services:
            print(f"--- {service}\n{stack.logs(service)[-3000:]}")
        raise
    finally:
        docker("stack", "rm", stack.name, check=False)
        wait_for(
            lambda: (
                not docker(
                    "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={stack.name}"
                ).stdout.strip()
            ),
            timeout=120,
            interval=1,
        )
        volumes = docker(
            "volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack.name}"
        ).stdout.split()
        if volumes:
            docker("volume", "rm", *volumes, check=False)


@contextmanager
def stack_on_a_swarm(
    project: Path,
    reference: str,
    passwords: dict[str, str],
    replicas: int,
    variables: dict[str, str] | None = None,
) -> Iterator[DeployedStack]:
    """A generated service's deploy/swarm/stack.yaml on a single-node swarm, as its README
    deploys it: `passwords` as the external secrets it names (`<slug>_<name>`), the image
    by its `reference` (name@sha256:..., see `published`) with `replicas` app replicas (2
    workers, one of each other service), and `variables` set for `docker stack deploy`."""
    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]
    secret_names = {f"{slug}_{name}": value for name, value in passwords.items()}
    with single_node_swarm():
        for name, value in secret_names.items():
            docker("secret", "rm", name, check=False)
            docker("secret", "create", name, "-", input_=value)
        try:
            name, _, digest = reference.partition("@")
            env = {
                **os.environ,
                "APP_IMAGE": name,
                "APP_DIGEST": digest,
                "APP_REPLICAS": str(replicas),
                **(variables or {}),
            }
            stack_file = reachable_from_a_test_client(project / "deploy" / "swarm" / "stack.yaml")
            declared = yaml.safe_load(stack_file.read_text())["services"]
            services = {name: {"app": replicas, "worker": 2}.get(name, 1) for name in declared}
            with deployed(stack_file, reference, env, services) as stack:
                yield stack
        finally:
            for name in secret_names:
                docker("secret", "rm", name, check=False)


@dataclass
class LoadReport:
    """What the load client saw: each request's start (epoch s), duration and outcome."""

    records: list[tuple[float, float, int | str]] = field(default_factory=list)

    def failures(self, since: float = 0.0) -> list[tuple[float, float, int | str]]:
        return [record for record in self.records if record[0] >= since and record[2] != 200]

    def p99_ms(self) -> float:
        return statistics.quantiles([record[1] for record in self.records], n=100)[98] * 1000

    def summary(self) -> str:
        return f"{len(self.records)} requests, {len(self.failures())} failed, p99 {self.p99_ms():.1f} ms"


@contextmanager
def steady_load(
    stack: DeployedStack, path: str, workers: int = 2, pause: float = 0.02
) -> Iterator[LoadReport]:
    """Requests to the app's replicas from a client container for the block, bounded: each
    of `workers` threads waits `pause` s between its requests."""
    report = LoadReport()
    container = docker(
        "run",
        "--detach",
        "--network",
        stack.network,
        "--entrypoint",
        "python",
        stack.image,
        "-c",
        LOAD_CLIENT,
        "app",
        "8000",
        path,
        str(workers),
        str(pause),
    ).stdout.strip()
    try:
        wait_for(lambda: "load: started" in docker("logs", container).stderr, timeout=30)
        yield report
    finally:
        docker("stop", "--time", "30", container, check=False)
        output = docker("logs", container, check=False).stdout
        docker("rm", "--force", container, check=False)
    report.records = [tuple(record) for record in json.loads(output)]


def wait_converged(stack: DeployedStack, service: str, replicas: int) -> None:
    wait_for(lambda: stack.running_tasks(service) == replicas, timeout=180, interval=1)
    time.sleep(1)
