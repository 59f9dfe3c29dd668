"""The README's newcomer commands work from a clean clone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from lockfiles import read_pins
from support import TEMPLATE_ROOT, run


def quick_start_commands() -> list[str]:
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "README's Quick start has no bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_names_the_generate_and_test_commands() -> None:
    commands = quick_start_commands()

    assert commands == ["make generate DEST=../my-service", "make test"]
    assert "make test" in (TEMPLATE_ROOT / ".ci" / "run").read_text()


def test_generate_command_works_from_a_clean_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(TEMPLATE_ROOT), str(clone)], check=True)
    generate = quick_start_commands()[0].split()
    destination = tmp_path / "my-service"
    # Answers on the command line instead of the prompts; HEAD rather than the latest release.
    answers = "--defaults --vcs-ref=HEAD --data project_name=Demo --data lock_tool=uv"

    output = run([*generate[:2], f"DEST={destination}", f"COPIER_ARGS={answers}"], clone)

    assert (clone / ".venv" / "bin" / "copier").is_file()  # installed from the pinned file
    assert f'Your service "Demo" is ready in {destination}' in output
    assert read_pins(destination / "requirements" / "dev.txt")
    assert (destination / "src" / "demo" / "app.py").is_file()
