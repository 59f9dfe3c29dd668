"""Bring this service to the template's newest release on a branch, and say what its pull
request says: what .github/workflows/template-update.yml runs every week.

    python tools/template_update.py [--branch template-update] [--push URL]

1. `make update-template`, exactly what a person runs: `copier update` to the newest
   release, with the template's migrations and its lock step (new questions take their
   defaults);
2. every change, conflict markers included, committed on BRANCH, made anew from HEAD;
3. with --push, BRANCH force-pushed to URL;
4. the pull request's title, body (the versions, links to the template's notes, the files
   in conflict) and whether it is a draft, written to $GITHUB_OUTPUT (or printed).

Nothing is done when the service is at the newest release already.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ANSWERS = Path(".copier-answers.yml")
RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
WORKFLOW_CHANGES_REFUSED = (
    "error: the update changes .github/workflows/, which GITHUB_TOKEN may not push: add a"
    " TEMPLATE_UPDATE_TOKEN secret (.github/workflows/template-update.yml says which)."
)
GITHUB = re.compile(
    r"^(?:gh:|https://github\.com/|git@github\.com:)([\w.-]+/[\w.-]+?)(?:\.git)?/?$"
)


def answer(name: str) -> str:
    """A top-level value of the answers file copier writes (`_commit: v0.3.0`)."""
    found = re.search(rf"^{name}: *(.+?) *$", ANSWERS.read_text(encoding="utf-8"), re.MULTILINE)
    if not found:
        sys.exit(f"error: {ANSWERS} has no {name}; was this service made with copier?")
    return found.group(1).strip("'\"")


def git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], check=True, capture_output=True, text=True).stdout


def version(tag: str) -> tuple[int, ...] | None:
    matched = RELEASE.match(tag)
    return tuple(int(part) for part in matched.groups()) if matched else None


def releases_between(source: str, before: str, after: str) -> list[str]:
    """The template's release tags after `before`, up to `after`, oldest first."""
    listed = subprocess.run(
        ["git", "ls-remote", "--tags", "--refs", source],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    tags = [line.rsplit("refs/tags/", 1)[-1] for line in listed.splitlines()]
    low, high = version(before) or (), version(after) or ()
    between = [tag for tag in tags if (v := version(tag)) and low < v <= high]
    return sorted(between, key=lambda tag: version(tag) or ()) or [after]


def notes(source: str, tags: list[str]) -> str:
    """Where each release's notes are: its GitHub release (CHANGELOG.md's section of that
    version, which the template's release workflow publishes), when the template is there."""
    github = GITHUB.match(source)
    if not github:
        return (
            "Releases: "
            + ", ".join(f"`{tag}`" for tag in tags)
            + f" of `{source}` (its CHANGELOG.md)."
        )
    base = f"https://github.com/{github.group(1)}"
    links = [
        f"- [{tag}]({base}/releases/tag/{tag}) "
        f"([CHANGELOG.md]({base}/blob/{tag}/CHANGELOG.md#{tag.removeprefix('v').replace('.', '')}))"
        for tag in tags
    ]
    return "What changed in the template, release by release:\n" + "\n".join(links)


def describe(source: str, before: str, after: str, conflicted: list[str]) -> tuple[str, str]:
    title = f"Template update: {before} to {after}"
    body = [
        f"`copier update` from the template's {before} to {after}: `make update-template`, "
        "with the template's migrations and its lock step, run by "
        "`.github/workflows/template-update.yml`. Questions added since take their defaults "
        "(`.copier-answers.yml`).",
        "",
        notes(source, releases_between(source, before, after)),
    ]
    if conflicted:
        body += [
            "",
            "**Conflicts: this pull request stays a draft until they are resolved.** These "
            "files hold both versions between `<<<<<<< before updating` and "
            "`>>>>>>> after updating` markers, committed so that nothing is lost:",
            "",
            *(f"- `{path}`" for path in conflicted),
            "",
            "Check out this branch, keep what each should say, run `make lock` if a "
            "`requirements/*.in` is among them, then `make lint`, push, and mark the pull "
            "request ready. Until then pre-commit (check-merge-conflict) fails CI.",
        ]
    return title, "\n".join(body) + "\n"


def publish(outputs: dict[str, str]) -> None:
    destination = os.environ.get("GITHUB_OUTPUT")
    lines = []
    for key, value in outputs.items():
        delimiter = f"EOF_{os.urandom(8).hex()}"
        lines.append(
            f"{key}<<{delimiter}\n{value}\n{delimiter}\n" if "\n" in value else f"{key}={value}\n"
        )
    if destination:
        with open(destination, "a", encoding="utf-8") as output:
            output.writelines(lines)
    else:
        sys.stdout.writelines(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--branch", default="template-update")
    parser.add_argument("--push", metavar="URL", help="force-push the branch there")
    options = parser.parse_args()

    source, before = answer("_src_path"), answer("_commit")
    # New questions take their defaults: nobody is there to answer them.
    environment = {**os.environ, "COPIER_ARGS": "--defaults " + os.environ.get("COPIER_ARGS", "")}
    updated = subprocess.run(["make", "update-template"], env=environment, check=False)
    conflicted = git("diff", "--name-only", "--diff-filter=U").split()
    if updated.returncode != 0 and not conflicted:
        print("error: make update-template failed (above); nothing was committed.", file=sys.stderr)
        return updated.returncode
    after = answer("_commit")
    if after == before:
        print(f"This service is at the template's newest release, {before}: nothing to update.")
        publish({"updated": "false"})
        return 0
    git("add", "--all")  # the files in conflict too, markers and all

    title, body = describe(source, before, after, conflicted)
    git("switch", "--force-create", options.branch)
    git("commit", "--quiet", "--no-verify", "--message", f"{title}\n\n{body}")
    if options.push:
        push = [
            "git",
            "push",
            "--quiet",
            "--force",
            options.push,
            f"HEAD:refs/heads/{options.branch}",
        ]
        pushed = subprocess.run(push, check=False)
        if pushed.returncode != 0:
            if git("diff", "--name-only", "HEAD~1", "--", ".github/workflows/"):
                print(WORKFLOW_CHANGES_REFUSED, file=sys.stderr)
            return pushed.returncode
    body_file = Path(tempfile.mkdtemp()) / "pull-request.md"
    body_file.write_text(body, encoding="utf-8")
    print(f"{title}: committed on {options.branch}" + (" and pushed" if options.push else ""))
    publish(
        {
            "updated": "true",
            "branch": options.branch,
            "title": title,
            "body-file": str(body_file),
            "draft": "true" if conflicted else "false",
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
