"""Turn a repository created with GitHub's "Use this template" into the service.

Such a repository holds the template's own files. This renders the template (its newest
release, fetched from the template repository, so that `copier update` works later)
with answers taken from the repository, replaces the template's files with the service,
commits, and pushes when asked. Run by .github/workflows/bootstrap.yml; it does nothing
in the template repository itself, or in any repository not created from a template.

Pushing needs a token that may write workflow files (the service brings its own
.github/workflows/), which GitHub's default GITHUB_TOKEN may not do.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TOKEN_HELP = """\
This repository was created from a template; to turn it into the service, this
workflow commits the generated files, .github/workflows/ among them, which GitHub's
default GITHUB_TOKEN is not allowed to do. Once:
  1. Create a fine-grained personal access token (GitHub > Settings > Developer
     settings) for this repository with "Contents: Read and write" and
     "Workflows: Read and write".
  2. Save it as the Actions secret {name} (this repository > Settings > Secrets and
     variables > Actions).
  3. Re-run this workflow (Actions > Bootstrap > Re-run all jobs).
Or generate the service locally with `copier copy --trust <template> .` and push it."""


class BootstrapError(Exception):
    pass


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def git(root: Path, *args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BootstrapError(f"git {' '.join(args)} failed:\n{completed.stderr.strip()}")
    return completed.stdout


def answers_from(repository: dict) -> dict[str, str]:
    owner = repository["owner"]["login"]
    answers = {
        "project_name": repository["name"],
        "author_name": owner,
        "author_email": f"{owner}@users.noreply.github.com",
    }
    if repository.get("description"):
        answers["description"] = repository["description"]
    return answers


def render(template_url: str, vcs_ref: str | None, answers: dict[str, str], destination: Path) -> None:
    command = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
    if vcs_ref:
        command += ["--vcs-ref", vcs_ref]
    for name, value in answers.items():
        command += ["--data", f"{name}={value}"]
    completed = subprocess.run([*command, template_url, str(destination)], check=False)
    if completed.returncode != 0:
        raise BootstrapError(
            "copier could not render the template with answers taken from this repository "
            f"({', '.join(f'{k}={v!r}' for k, v in answers.items())}); see its message above. "
            "Rename the repository, or generate the service locally and push it."
        )
    missing = [
        source.name
        for source in sorted((destination / "requirements").glob("*.in"))
        if not source.with_suffix(".txt").exists()
    ]
    if missing:
        raise BootstrapError(f"the lock step did not produce a lock for {', '.join(missing)} (see above)")


def replace_contents(root: Path, service: Path) -> None:
    """The repository's files become the service's: nothing of the template is left."""
    for name in filter(None, git(root, "ls-files", "-z").split("\0")):
        (root / name).unlink(missing_ok=True)
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if ".git" not in directory.relative_to(root).parts and not any(directory.iterdir()):
            directory.rmdir()
    for item in service.iterdir():
        target = root / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)


def commit(root: Path, template_name: str) -> str:
    answers = (root / ".copier-answers.yml").read_text(encoding="utf-8")
    release = next(
        (line.split(":", 1)[1].strip() for line in answers.splitlines() if line.startswith("_commit:")), "?"
    )
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", f"Generate the service from {template_name} {release}")
    return release


def push(root: Path, url: str, branch: str, token: str | None) -> None:
    config: list[str] = []
    if token:  # as actions/checkout does, without writing the token to .git/config
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        config = ["-c", f"http.extraheader=AUTHORIZATION: basic {basic}"]
    git(root, *config, "push", url, f"HEAD:refs/heads/{branch}")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repository-json", type=Path, required=True, help="`gh api repos/OWNER/NAME`")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository's work tree")
    parser.add_argument("--template-url", help="default: the template repository's clone URL")
    parser.add_argument("--vcs-ref", help="template release to render; default: the newest tag")
    parser.add_argument("--token-env", help="environment variable holding the push token; required if set")
    parser.add_argument("--push", metavar="URL", help="push the commit there")
    parser.add_argument("--branch", default=os.environ.get("GITHUB_REF_NAME", "main"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    repository = json.loads(arguments.repository_json.read_text(encoding="utf-8"))
    template = repository.get("template_repository")
    if repository.get("is_template") or not template:
        say("bootstrap: this repository was not created from a template; nothing to do.")
        return 0
    token = os.environ.get(arguments.token_env, "") if arguments.token_env else None
    if arguments.token_env and not token:
        say(
            f"::error title=Secret {arguments.token_env} is missing::"
            + TOKEN_HELP.format(name=arguments.token_env)
        )
        return 1
    root = arguments.root.resolve()
    try:
        with tempfile.TemporaryDirectory(prefix="bootstrap-") as scratch:
            service = Path(scratch) / repository["name"]
            render(
                arguments.template_url or template["clone_url"],
                arguments.vcs_ref,
                answers_from(repository),
                service,
            )
            replace_contents(root, service)
        release = commit(root, template["full_name"])
        if arguments.push:
            push(root, arguments.push, arguments.branch, token)
    except BootstrapError as error:
        say(f"::error title=Bootstrap failed::{error}")
        return 1
    generated = f"{template['full_name']} {release}"
    say(f"bootstrap: {repository['full_name']} is now a service generated from {generated}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
