"""The generated Kubernetes manifests, for the tests: built with kustomize, checked against
the Pod Security Standard "restricted", and their pod specs run for real with Docker."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dockerized import docker

Object = dict[str, Any]


def build(kustomization: Path) -> list[Object]:
    """`kubectl kustomize` of a folder: the objects it would apply."""
    completed = subprocess.run(
        ["kubectl", "kustomize", str(kustomization)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{completed.stderr}"
    return [document for document in yaml.safe_load_all(completed.stdout) if document]


def pod_templates(objects: list[Object]) -> dict[str, Object]:
    """Each workload's pod spec, by the workload's name (a CronJob's: its Jobs')."""
    pods = {}
    for thing in objects:
        if thing["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            pods[thing["metadata"]["name"]] = thing["spec"]["template"]["spec"]
        elif thing["kind"] == "CronJob":
            pods[thing["metadata"]["name"]] = thing["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pods


def all_containers(pod: Object) -> list[Object]:
    return [*pod.get("initContainers", []), *pod["containers"]]


# The volume types the "restricted" profile allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: Object) -> list[str]:
    """Where a pod spec breaks the Pod Security Standard "restricted" (its every rule, from
    https://kubernetes.io/docs/concepts/security/pod-security-standards/), or our own
    production rules: a read-only root filesystem and resource requests and limits."""
    found = []
    pod_context = pod.get("securityContext", {})
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            found.append(f"{host} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} is {kinds}")
    if pod_context.get("runAsUser") == 0:
        found.append("the pod runs as root")
    for container in all_containers(pod):
        name = container["name"]
        context = container.get("securityContext", {})

        def either(key: str, context: Object = context) -> Any:
            return context.get(key, pod_context.get(key))

        if context.get("privileged"):
            found.append(f"{name} is privileged")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name} does not drop ALL capabilities")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name} adds capabilities")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name} allows privilege escalation")
        if either("runAsNonRoot") is not True:
            found.append(f"{name} may run as root (runAsNonRoot)")
        if either("runAsUser") == 0:
            found.append(f"{name} runs as user 0")
        if (either("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name} has no RuntimeDefault seccomp profile")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{name} uses a host port")
        if context.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name} has a writable root filesystem")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(kind, {})):
                found.append(f"{name} has no cpu and memory {kind}")
    return found


def memory(quantity: str) -> str:
    """A Kubernetes memory quantity (512Mi) in Docker's notation (512m)."""
    for suffix, unit in (("Ki", "k"), ("Mi", "m"), ("Gi", "g")):
        if quantity.endswith(suffix):
            return quantity.removesuffix(suffix) + unit
    return quantity


def cpus(quantity: str) -> str:
    return str(int(quantity[:-1]) / 1000) if quantity.endswith("m") else quantity


@dataclass
class PodRun:
    """A pod spec run with Docker as a kubelet would run it: its user, read-only root,
    capabilities, no-new-privileges, volumes (emptyDir as tmpfs, the Secret as read-only
    files, a PersistentVolumeClaim as the folder `claims` gives for its name), the
    ConfigMap's environment, limits, command and arguments."""

    pod: Object
    image: str
    config: dict[str, str]
    secret_files: Path
    network: str
    claims: dict[str, Path] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    # An emptyDir two of the pod's containers mount (an init container's output) is a
    # Docker volume they share, writable by any user as an emptyDir is.
    shared: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mounted: dict[str, int] = {}
        for container in all_containers(self.pod):
            for mount in container.get("volumeMounts", []):
                mounted[mount["name"]] = mounted.get(mount["name"], 0) + 1
        for volume in self.pod.get("volumes", []):
            if "emptyDir" in volume and mounted.get(volume["name"], 0) > 1:
                name = f"pod-{volume['name']}-{uuid.uuid4().hex[:6]}"
                docker("volume", "create", name)
                docker(
                    "run",
                    "--rm",
                    "--user",
                    "0",
                    "--volume",
                    f"{name}:/v",
                    "--entrypoint",
                    "chmod",
                    self.image,
                    "1777",
                    "/v",
                )
                self.shared[volume["name"]] = name

    def run_args(self, container: Object) -> list[str]:
        pod_context = self.pod.get("securityContext", {})
        context = container.get("securityContext", {})
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        group = context.get("runAsGroup", pod_context.get("runAsGroup", user))
        args = ["--network", self.network, "--user", f"{user}:{group}"]
        if context.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        for capability in context.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", capability]
        if context.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        volumes = {volume["name"]: volume for volume in self.pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if volume["name"] in self.shared:
                read_only = ",readonly" if mount.get("readOnly") else ""
                args += [
                    "--mount",
                    f"type=volume,src={self.shared[volume['name']]},dst={mount['mountPath']}{read_only}",
                ]
            elif "emptyDir" in volume:
                size = memory(volume["emptyDir"].get("sizeLimit", "64Mi"))
                args += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777,size={size}"]
            elif "secret" in volume:
                args += ["--mount", f"type=bind,src={self.secret_files},dst={mount['mountPath']},readonly"]
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]
                source = self.claims[claim["claimName"]]
                read_only = ",readonly" if mount.get("readOnly") or claim.get("readOnly") else ""
                args += ["--mount", f"type=bind,src={source},dst={mount['mountPath']}{read_only}"]
            else:
                raise AssertionError(f"no stand-in for volume {volume}")
        environment: dict[str, str] = {}
        for source in container.get("envFrom", []):
            assert "configMapRef" in source, source
            environment.update(self.config)
        environment.update({variable["name"]: variable["value"] for variable in container.get("env", [])})
        for name, value in environment.items():
            args += ["--env", f"{name}={value}"]
        limits = container.get("resources", {}).get("limits", {})
        if "memory" in limits:
            args += ["--memory", memory(limits["memory"])]
        if "cpu" in limits:
            args += ["--cpus", cpus(limits["cpu"])]
        command = container.get("command", [])
        if command:
            args += ["--entrypoint", command[0]]
        # The service's image (the overlay names it in a registry), or another as named.
        image = self.image if "@sha256:" in container["image"] else container["image"]
        return [*args, image, *command[1:], *container.get("args", [])]

    def start(self) -> dict[str, str]:
        """Run the init containers to completion, then start the containers: their names."""
        for container in self.pod.get("initContainers", []):
            completed = docker("run", "--rm", *self.run_args(container), check=False, timeout=300)
            assert completed.returncode == 0, (
                f"init container {container['name']} failed:\n{completed.stdout}\n{completed.stderr}"
            )
        names = {}
        for container in self.pod["containers"]:
            name = f"pod-{container['name']}-{uuid.uuid4().hex[:6]}"
            docker("run", "--detach", "--name", name, *self.run_args(container))
            self.started.append(name)
            names[container["name"]] = name
        return names

    def remove(self) -> None:
        if self.started:
            docker("rm", "--force", *self.started, check=False)
        if self.shared:
            docker("volume", "rm", "--force", *self.shared.values(), check=False)


@dataclass
class Pods:
    """The built objects' pod templates, by name, run on one network with one image,
    ConfigMap and Secret; every run is kept, to be removed."""

    templates: dict[str, Object]
    image: str
    config: dict[str, str]
    secret_files: Path
    network: str
    runs: list[PodRun] = field(default_factory=list)

    def start(self, name: str, claims: dict[str, Path] | None = None) -> tuple[str, Object]:
        """Start the named pod: its first container's name and spec."""
        template = self.templates[name]
        run = PodRun(template, self.image, self.config, self.secret_files, self.network, claims or {})
        self.runs.append(run)
        spec = run.pod["containers"][0]
        return run.start()[spec["name"]], spec

    def remove(self) -> None:
        for run in self.runs:
            run.remove()


@contextmanager
def backing_services(network: str, password: str) -> Iterator[dict[str, str]]:
    """PostgreSQL and Redis on `network`, as the external services the Secret names: the
    Secret's keys for them."""
    database = f"db-{uuid.uuid4().hex[:6]}"
    redis = f"redis-{uuid.uuid4().hex[:6]}"
    try:
        docker(
            "run",
            "--detach",
            "--name",
            database,
            "--network",
            network,
            "--env",
            "POSTGRES_USER=svc",
            "--env",
            f"POSTGRES_PASSWORD={password}",
            "--env",
            "POSTGRES_DB=svc",
            "postgres:17",
        )
        docker(
            "run",
            "--detach",
            "--name",
            redis,
            "--network",
            network,
            "redis:7",
            "redis-server",
            "--requirepass",
            password,
        )
        yield {
            "DATABASE_URL": f"postgresql+psycopg://svc:{password}@{database}:5432/svc?connect_timeout=5",
            "REDIS_URL": f"redis://:{password}@{redis}:6379/0",
        }
    finally:
        docker("rm", "--force", database, redis, check=False)
