"""Another person on this machine: a user with UID/GID 1234 (neither root nor the images'
default 1000) in the docker group, as a Linux team member is. The suite runs as root in
CI, which creates the user; elsewhere the tests run as whoever runs them."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NAME = "pst-uid1234"
ID = 1234


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path

    def run(
        self, command: list[str], cwd: Path, env: dict[str, str], timeout: int = 900
    ) -> subprocess.CompletedProcess[str]:
        """`command` as this user, with only `env` (and HOME, USER, PATH) in its environment."""
        environment = {"PATH": os.environ["PATH"], **env, "HOME": str(self.home), "USER": self.name}
        prefix = [] if self.uid == os.getuid() else ["runuser", "-u", self.name, "--"]
        return subprocess.run(
            [*prefix, "env", "-i", *(f"{k}={v}" for k, v in environment.items()), *command],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def workspace(self, source: Path) -> Path:
        """A copy of `source` that this user owns, in a folder they can reach."""
        base = Path(tempfile.mkdtemp(prefix="pst-user-"))
        base.chmod(0o755)
        copy = base / source.name
        shutil.copytree(source, copy, symlinks=True)
        if self.uid != os.getuid():
            subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(base)], check=True)
        return copy


def someone() -> User:
    """UID 1234, created once (as root), or the user running the tests."""
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid())
        return User(me.pw_name, me.pw_uid, me.pw_gid, Path(me.pw_dir))
    try:
        pwd.getpwnam(NAME)
    except KeyError:
        subprocess.run(["groupadd", "--force", "--gid", str(ID), NAME], check=True)
        home = ("--create-home", "--home-dir", f"/home/{NAME}", "--shell", "/bin/bash")
        subprocess.run(
            ["useradd", "--uid", str(ID), "--gid", str(ID), "--groups", "docker", *home, NAME], check=True
        )
    entry = pwd.getpwnam(NAME)
    return User(NAME, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))
