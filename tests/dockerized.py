"""Driving Docker and Compose for the container tests: builds, stacks, HTTP probes."""

from __future__ import annotations

import json
import os
import random
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any

PROD_FILES = ("-f", "compose.yaml", "-f", "compose.prod.yaml")
# Stand-in base images exist here for these two versions only.


def docker(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: int = 900,
    input_: str | None = None,
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        ["docker", *args],
        cwd=cwd,
        env=env,
        input=input_,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    return completed


def secret_values_seen(values: list[str], *commands: list[str]) -> list[str]:
    """Which of `values` the output of `docker <command>` shows, for each command."""
    seen = []
    for command in commands:
        output = docker(*command).stdout
        seen += [f"docker {' '.join(command)} shows {value[:6]}…" for value in values if value in output]
    return seen


# Published ports are drawn from below the kernel's ephemeral range (32768-60999 here, in
# /proc/sys/net/ipv4/ip_local_port_range): a port the kernel hands to bind(0) is handed to
# outgoing connections too, and one was taken that way between the pick and Docker's bind
# ("port is already allocated", a CI run of 2026-12-07).
PUBLISHED_PORTS = range(20000, 32000)


def free_port() -> int:
    """A loopback port nothing listens on now, at random among PUBLISHED_PORTS: two tests
    that pick at the same moment rarely pick the same."""
    while True:
        port = random.choice(PUBLISHED_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


# The CA certificate of each running stack's proxy (its local CA signs https://localhost),
# by the host:port it answers on: every urllib request of the tests trusts it there.
EDGE_CAS: dict[str, Path] = {}


class _EdgeHTTPS(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request):  # type: ignore[override]
        ca = EDGE_CAS.get(req.host)
        context = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context()
        return self.do_open(HTTPSConnection, req, context=context)


urllib.request.install_opener(urllib.request.build_opener(_EdgeHTTPS()))


def http(
    method: str, url: str, body: object = None, timeout: float = 5, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for(check, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, urllib.error.URLError, ValueError) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"not true after {timeout} s: {last!r}")


def new_name() -> str:
    return f"pst-{uuid.uuid4().hex[:10]}"


def isolation(name: str) -> dict[str, str]:
    """The variables that give a generated service's compose project, images and published
    ports names and numbers of its own."""
    names = ("APP_PORT", "DEBUG_PORT", "DB_PORT", "REDIS_PORT", "HTTP_PORT", "HTTPS_PORT")
    ports = {port: str(free_port()) for port in names}
    return {"COMPOSE_PROJECT_NAME": name, "APP_IMAGE": name, **ports}


@dataclass
class Stack:
    """One compose project of a generated service, isolated by name, image and ports."""

    project: Path
    python_version: str
    files: tuple[str, ...] = ()
    name: str = field(default_factory=new_name)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        isolated = isolation(self.name)
        self.app_port = int(isolated["APP_PORT"])
        self.http_port = int(isolated["HTTP_PORT"])
        self.https_port = int(isolated["HTTPS_PORT"])
        self.env = {
            **os.environ,
            **isolated,
            "PYTHON_VERSION": self.python_version,
            "UID": str(os.getuid()),
            "GID": str(os.getgid()),
            **self.env,
        }

    @property
    def url(self) -> str:
        """The app's published port (the development stack's)."""
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def edge(self) -> str:
        """The production stack's proxy, as a client reaches it (its certificate is for
        localhost when DOMAIN is not set)."""
        return f"https://localhost:{self.https_port}"

    @property
    def edge_ca(self) -> Path:
        """The proxy's local CA certificate, where `make prod-ca` writes it."""
        return self.project / "proxy-ca.crt"

    def compose(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return docker(
            "compose", *self.files, *args, cwd=self.project, env=self.env, check=check, timeout=timeout
        )

    def container(self, service: str) -> str:
        return self.compose("ps", "--quiet", service).stdout.strip()

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        images = docker(
            "images", "--quiet", "--filter", f"reference={self.name}*", check=False
        ).stdout.split()
        if images:
            docker("image", "rm", "--force", *images, check=False)


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        if "compose.prod.yaml" in stack.files:
            write_prod_secrets(stack)
        stack.compose("up", "--build", "--detach", "--wait")
        if "compose.prod.yaml" in stack.files:
            trust_the_proxy(stack)
        yield stack
    except AssertionError:
        print(stack.compose("logs", "--no-color", check=False).stdout[-5000:])
        raise
    finally:
        stack.down()


def app_port_published(project: Path) -> tuple[str, ...]:
    """Compose arguments that publish the production app's port on loopback (APP_PORT),
    which the stack itself never does: for the tests that ask the app what only the stack's
    network can (/metrics, header lines the proxy would refuse)."""
    override = project / "app-port.test.yaml"
    override.write_text(json.dumps({"services": {"app": {"ports": ["127.0.0.1:${APP_PORT}:8000"]}}}))
    return ("-f", override.name)


def trust_the_proxy(stack: Stack) -> None:
    """`make prod-ca`: the proxy's CA certificate into the project, trusted by http() and
    every urllib request for the stack's HTTPS port from now on."""
    made = subprocess.run(
        ["make", "prod-ca"], cwd=stack.project, env=stack.env, capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stdout + made.stderr
    EDGE_CAS[f"localhost:{stack.https_port}"] = stack.edge_ca


def write_prod_secrets(stack: Stack) -> None:
    """What `make prod-up` does before it starts the stack: the passwords of the
    environment into secrets/, for the stacks that need any."""
    if "prod-secrets:" not in (stack.project / "Makefile").read_text():
        return
    made = subprocess.run(
        ["make", "prod-secrets"],
        cwd=stack.project,
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
