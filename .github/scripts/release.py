"""The template's releases. The version lives in one place, the newest version heading of
CHANGELOG.md (`## 0.3.0`, below an optional `## Unreleased`); when a push to main makes it
a version that has no tag yet, .github/workflows/release.yml tags that commit `v0.3.0`
and publishes the section as the release's notes. Copier reads the tags: `copier copy`
takes the newest, `copier update` runs the `_migrations` of every release it crosses.

    python .github/scripts/release.py plan             # "tag=v0.3.0", or "tag=" if tagged
    python .github/scripts/release.py notes v0.3.0     # that release's section
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"
HEADING = re.compile(r"^## (?P<title>.+?)\s*$", re.MULTILINE)
VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


class ReleaseError(Exception):
    """CHANGELOG.md and the tags disagree; the message says how."""


def sections(changelog: str) -> dict[str, str]:
    """{version: its notes}, newest first, "Unreleased" left out."""
    headings = list(HEADING.finditer(changelog))
    found: dict[str, str] = {}
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        title = heading["title"]
        if title.lower() == "unreleased":
            continue
        if not VERSION.match(title):
            raise ReleaseError(f"CHANGELOG.md: '## {title}' is neither 'Unreleased' nor a version X.Y.Z")
        end = following.start() if following else len(changelog)
        found[title] = changelog[heading.end() : end].strip() + "\n"
    return found


def newest_version(changelog: str) -> str:
    versions = list(sections(changelog))
    if not versions:
        raise ReleaseError("CHANGELOG.md has no version heading (## X.Y.Z)")
    return versions[0]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def tag_to_create(changelog: str, tags: set[str]) -> str | None:
    """The tag the newest version needs, or None when it has one. A version at or below
    the newest tag is refused: it would be a release copier sorts before the last one."""
    version = newest_version(changelog)
    tag = f"v{version}"
    if tag in tags:
        return None
    released = sorted((m.group(0)[1:] for m in map(TAG.match, tags) if m), key=_key)
    if released and _key(version) <= _key(released[-1]):
        raise ReleaseError(
            f"CHANGELOG.md's newest version {version} is not above the newest tag v{released[-1]}: "
            "name the next release in its heading"
        )
    return tag


def git_tags(repository: Path) -> set[str]:
    listed = subprocess.run(
        ["git", "tag", "--list"], cwd=repository, capture_output=True, text=True, check=True
    )
    return set(listed.stdout.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--changelog", type=Path, default=CHANGELOG)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plan", help="the tag to create, as a GitHub output line")
    notes = commands.add_parser("notes", help="a release's section of the changelog")
    notes.add_argument("tag")
    arguments = parser.parse_args(argv)
    changelog = arguments.changelog.read_text(encoding="utf-8")
    try:
        if arguments.command == "plan":
            tag = tag_to_create(changelog, git_tags(arguments.changelog.parent))
            print(f"tag={tag or ''}")
        else:
            version = arguments.tag.removeprefix("v")
            print(sections(changelog)[version], end="")
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyError:
        print(f"error: CHANGELOG.md has no section for {arguments.tag}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
