"""What the tests share besides fixtures: the template's questions and answer sets, how
a project is generated, and small process and git helpers."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from copier import run_copy
from plumbum import local

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
# The hooks and the generated project's tools are scripts, not packages.
sys.path[:0] = [str(TEMPLATE_ROOT / "hooks"), str(TEMPLATE_ROOT / "template" / "tools")]

from find_python import find_python  # noqa: E402

QUESTIONS = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())


def choices(question: str) -> tuple[str, ...]:
    """The values copier.yml offers for `question`, in its order."""
    offered = QUESTIONS[question]["choices"]
    return tuple(offered.values() if isinstance(offered, dict) else offered)


FRAMEWORKS = choices("framework")
DATABASES = choices("database")
WORKERS = choices("worker")
LOCK_TOOLS = choices("lock_tool")
DEFAULT_PYTHON: str = QUESTIONS["python_version"]["default"]
ALL_COMBINATIONS = list(itertools.product(FRAMEWORKS, DATABASES, WORKERS, LOCK_TOOLS))
COPIER_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def length_limit(question: str) -> int:
    """The most characters copier.yml's validator accepts for `question`."""
    return int(re.search(r"length > (\d+)", QUESTIONS[question]["validator"]).group(1))


def longest_names() -> dict[str, str]:
    """The longest project name, slug and package name the questions accept: the generated
    code must pass its linters with these as with short ones."""
    name = ("Payments Reconciliation Service Europe West " * 2)[: length_limit("project_name")]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())[: length_limit("project_slug")]
    package = slug.replace("-", "_")[: length_limit("package_name")]
    names = {"project_name": name, "project_slug": slug, "package_name": package}
    assert all(len(names[question]) == length_limit(question) for question in names), names
    return names


# Every package index unreachable, for pip and for uv.
DEAD_INDEX = "http://127.0.0.1:9/simple"  # nothing listens on the discard port
OFFLINE = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_INDEX_URL": DEAD_INDEX,
    "PIP_RETRIES": "0",
    "PIP_TIMEOUT": "3",
    "UV_INDEX_URL": DEAD_INDEX,
    "UV_HTTP_RETRIES": "0",
    "UV_NO_CACHE": "1",
    "UV_OFFLINE": "1",
}


# The package index moves on: a test whose outcome depends on what it serves today fails
# some day for no fault of the template (a release, a yank). So no assertion names a
# version that only the live index decides, nor counts its releases. A test that needs to
# know what the index serves makes that known itself: it serves a release from a local
# folder (fake_wheel, with PIP_FIND_LINKS and UV_FIND_LINKS), or reads the version back
# from the lock it checks.


def fake_wheel(folder: Path, name: str, version: str) -> Path:
    """A valid, empty wheel: a release the index serves that no test has run."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def record(text: str) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        return f"sha256={digest.decode()},{len(text.encode())}"

    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(
            f"{info}/RECORD", "".join(f"{p},{record(t)}\n" for p, t in files.items()) + f"{info}/RECORD,,\n"
        )
    return wheel


# The lock files of every new service (requirements/*.txt): base, dev and prod hold the
# service (dev and prod include base), tools the host-only linters and supply-chain tools.
LOCK_NAMES = ("base", "dev", "prod", "tools")
# And with a model: what makes it (make model), installed in no image.
MODEL_LOCK_NAMES = (*LOCK_NAMES, "train")
SERVICE_LOCKS = ("base", "dev", "prod")

# copier.yml's default for each choice a test varies.
DEFAULT_CHOICES = {
    name: QUESTIONS[name]["default"] for name in ("framework", "database", "worker", "lock_tool")
}

# Answer sets that several modules test, each generated once per session (`locked`).
# Both with tracing: its spans are checked in their containers.
FLASK_EVERY_SERVICE_311 = {
    "framework": "flask",
    "database": "postgresql",
    "worker": "celery",
    "lock_tool": "uv",
    "python_version": "3.11",
    "tracing": True,
}
FASTAPI_EVERY_SERVICE_314 = {
    "framework": "fastapi",
    "database": "postgresql",
    "worker": "celery",
    "lock_tool": "uv",
    "python_version": "3.14",
    "tracing": True,
}
FLASK_NO_SERVICE_312 = {
    "framework": "flask",
    "database": "none",
    "worker": "none",
    "lock_tool": "pip-tools",
    "python_version": "3.12",
}
# A service that serves a model, with each framework: the training lock (train.txt) too.
# FastAPI's with the worker (which scores batches) and the deployment targets; Flask's with
# no other service, so its integration tests (Schemathesis on the whole API) run anywhere.
FASTAPI_MODEL = {
    "framework": "fastapi",
    "database": "none",
    "worker": "celery",
    "lock_tool": "uv",
    "model": "onnx",
    "deploy_targets": ["kubernetes", "swarm"],
}
FLASK_MODEL = {
    "framework": "flask",
    "database": "none",
    "worker": "none",
    "lock_tool": "uv",
    "model": "onnx",
}
# Every deployment target, with the default framework and database and the worker: the
# Swarm stack's tests, the Kubernetes pods run for real and pre-commit share it.
DEPLOYED = {"worker": "celery", "lock_tool": "uv", "deploy_targets": ["kubernetes", "swarm"]}


def answer_id(answers: dict[str, str | bool | list[str]]) -> str:
    """A test id from the answers' values (a multiselect's choices joined by +, a yes/no
    question's name when yes)."""
    return "-".join(
        value if isinstance(value, str) else "+".join(value) if isinstance(value, list) else name
        for name, value in answers.items()
        if value is not False
    )


def answers_for(framework: str, database: str, worker: str, lock_tool: str, **extra: str) -> dict[str, str]:
    """An answer set for copier: the varied choices and `extra`; copier.yml's defaults for the rest."""
    return {
        "project_name": "Orders Service",
        "framework": framework,
        "database": database,
        "worker": worker,
        "lock_tool": lock_tool,
        **extra,
    }


def lock_names(answers: dict[str, str | bool | list[str]]) -> tuple[str, ...]:
    """The lock files of a service of these answers."""
    return MODEL_LOCK_NAMES if answers.get("model", "none") != "none" else LOCK_NAMES


def combination_id(combination: tuple[str, ...]) -> str:
    return "-".join(combination)


@contextmanager
def task_environment(set_: dict[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """Change the environment copier's tasks see, for the duration of the block.

    Copier hands tasks plumbum's copy of the environment, taken when plumbum was
    imported, so os.environ alone (monkeypatch.setenv) would not reach the hooks.
    """
    with pytest.MonkeyPatch.context() as patch, local.env():
        for name, value in set_.items():
            patch.setenv(name, value)
            local.env[name] = value
        for name in unset:
            patch.delenv(name, raising=False)
            local.env.pop(name, None)
        yield


def render(
    destination: Path,
    answers: dict[str, str],
    *,
    skip_tasks: bool,
    src: Path = TEMPLATE_ROOT,
    vcs_ref: str = "HEAD",
) -> Path:
    """Generate a project through copier's API, as `copier copy --trust --defaults` would."""
    run_copy(
        str(src),
        str(destination),
        data=answers,
        defaults=True,
        unsafe=True,
        quiet=True,
        skip_tasks=skip_tasks,
        vcs_ref=vcs_ref,
    )
    return destination


def python_or_fail(version: str) -> str:
    """An interpreter of `version`; the suite is meant to run where 3.11 to 3.13 exist."""
    python = find_python(version)
    assert python is not None, f"Python {version} is needed by this test and was not found"
    return python


def execute(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command, its output captured, for the test to judge."""
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run a command that must succeed; its output, or a failure that shows it."""
    completed = execute(command, cwd, env, timeout)
    output = f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    assert completed.returncode == 0, f"{' '.join(command)} failed ({completed.returncode}):\n{output}"
    return completed.stdout + completed.stderr


def make_venv(python: str, where: Path) -> Path:
    if where.exists():
        shutil.rmtree(where)
    run([python, "-m", "venv", str(where)], cwd=where.parent)
    return where / "bin" / "python"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def new_repository(path: Path, message: str) -> Path:
    """`path` as a git repository on main, everything in it committed."""
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return path


def copy_of_this_checkout(destination: Path) -> Path:
    """The files git would commit (tracked, or new and not ignored): no venv, no caches."""
    listed = git(TEMPLATE_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (TEMPLATE_ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_ROOT / name, destination / name)
    return destination


def with_model(project: Path) -> Path:
    """`make model` in `project`, done once per machine for each training lock, script and
    lock writer: the same packages make the same bytes (test_model_serving checks it), so
    later projects get a copy of the model and its lock instead of a new .venv-train and a
    new training."""
    # What makes the model, and what writes its lock.
    inputs = [
        project / "requirements" / "train.txt",
        project / "model" / "train.py",
        project / "tools" / "model_lock.py",
        *sorted((project / "src").glob("*/model_lock.py")),
    ]
    key = hashlib.sha256(b"".join(path.read_bytes() for path in inputs)).hexdigest()[:16]
    made = Path(f"/tmp/pst-model-{key}")
    if not made.is_dir():
        run(["make", "model"], project, timeout=900)
        staging = made.with_name(f"{made.name}-{os.getpid()}")
        staging.mkdir()
        for name in ("model.onnx", "model.lock.json"):
            shutil.copy2(project / "model" / name, staging / name)
        try:
            staging.rename(made)  # whole, or not at all: another worker may do the same
        except OSError:
            shutil.rmtree(staging)
        return project
    for name in ("model.onnx", "model.lock.json"):
        shutil.copy2(made / name, project / "model" / name)
    return project
