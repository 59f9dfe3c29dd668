"""copier.yml: derived defaults, and invalid answers refused before anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import TEMPLATE_ROOT, length_limit, longest_names, render

COPIER = str(Path(sys.executable).with_name("copier"))


def copier_copy(destination: Path, **answers: str) -> subprocess.CompletedProcess[str]:
    data = [f"--data={key}={value}" for key, value in answers.items()]
    return subprocess.run(
        [
            COPIER,
            "copy",
            "--trust",
            "--defaults",
            "--skip-tasks",
            "--vcs-ref=HEAD",
            *data,
            str(TEMPLATE_ROOT),
            str(destination),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_slug": "Bad Slug"}, "is not a valid slug"),
        ({"project_slug": "double--hyphen"}, "is not a valid slug"),
        ({"project_slug": "-leading"}, "is not a valid slug"),
        ({"package_name": "1service"}, "is not a valid package name"),
        ({"package_name": "my-service"}, "is not a valid package name"),
        ({"package_name": "class"}, "is a Python keyword"),
        ({"package_name": "json"}, "would shadow a standard-library module"),
        ({"author_email": "not-an-email"}, "is not a valid email address"),
        ({"author_email": "team@localhost"}, "is not a valid email address"),
        ({"author_name": " "}, "The author name cannot be empty"),
        ({"project_name": "123 Service"}, "must start with a letter"),
        ({"project_name": "For"}, "which is a Python keyword"),
        ({"project_name": "N" * (length_limit("project_name") + 1)}, "at most 60 are allowed"),
        ({"project_slug": "s" * (length_limit("project_slug") + 1)}, "a slug has at most 40"),
        ({"package_name": "p" * (length_limit("package_name") + 1)}, "a package name has at most 40"),
        # A long name's derived slug is refused too, naming the answer that fixes it.
        ({"project_name": "Payments Reconciliation Service Europe West"}, "answer project_slug"),
        ({"python_version": "3.10"}, "Invalid choice"),
        ({"lock_tool": "poetry"}, "Invalid choice"),
        ({"deploy_targets": '["kubernetes", "helm"]'}, "Invalid choice"),
    ],
    ids=lambda value: (
        str(value) if isinstance(value, str) else "-".join(f"{k}={v}" for k, v in value.items())
    ),
)
def test_invalid_answer_is_refused_and_nothing_is_written(
    tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    destination = tmp_path / "service"

    completed = copier_copy(destination, **{"project_name": "Orders Service", **answers})

    assert completed.returncode != 0, completed.stdout + completed.stderr
    assert message in completed.stderr, completed.stderr
    assert not destination.exists()


def test_slug_and_package_are_derived_from_the_name(tmp_path: Path) -> None:
    destination = render(tmp_path / "svc", {"project_name": "Billing API v2"}, skip_tasks=True)

    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "billing-api-v2"
    assert answers["package_name"] == "billing_api_v2"
    assert (destination / "src" / "billing_api_v2" / "app.py").is_file()


def test_the_longest_names_are_accepted(tmp_path: Path) -> None:
    names = longest_names()

    completed = copier_copy(tmp_path / "svc", **names)

    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "svc" / "src" / names["package_name"] / "app.py").is_file()


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    destination = render(tmp_path / "svc", {"project_name": "Orders Service"}, skip_tasks=True)

    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert {
        key: answers[key]
        for key in (
            "python_version",
            "framework",
            "database",
            "worker",
            "lock_tool",
            "tracing",
            "deploy_targets",
            "model",
        )
    } == {
        "python_version": "3.13",
        "framework": "fastapi",
        "database": "postgresql",
        "worker": "none",
        "lock_tool": "pip-tools",
        "tracing": False,
        "deploy_targets": [],
        "model": "none",
    }
    # The default stays lean: compose files only, no OpenTelemetry.
    assert not (destination / "deploy").exists()
    assert not (destination / "src/orders_service/tracing.py").exists()
    assert "opentelemetry" not in (destination / "requirements/base.in").read_text()
    # What `copier update` needs later.
    assert Path(answers["_src_path"]).is_absolute()
    assert answers["_commit"]
