"""How many CPUs this process may use: the container's CPU limit, not the host's cores.

os.cpu_count() counts the host's cores. In a container limited to one CPU on a 64-core
host, sizing the server's processes by it starts 64 of them, each with its database
pool, on one CPU's worth of time. The limit is the container's CPU quota (`docker run
--cpus`, compose's `cpus`, a Kubernetes CPU limit: cgroup v2's cpu.max, or v1's
cpu.cfs_quota_us over cpu.cfs_period_us) and the CPUs it may run on (`--cpuset-cpus`,
taskset: the affinity). loky and joblib read the same files; a few lines here spare the
image a process-pool library.
"""

import math
import os
from pathlib import Path

# A container's own cgroup is mounted here (cgroup v2, or one folder per controller in v1).
CGROUP = Path("/sys/fs/cgroup")


def available_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs this process may use, a whole number, at least 1: the fewer of its
    affinity and its cgroup's quota (rounded up: 1.5 CPUs keep two cores busy)."""
    if hasattr(os, "sched_getaffinity"):
        counts = [len(os.sched_getaffinity(0))]
    else:  # macOS has no affinity: `make run` on a laptop
        counts = [os.cpu_count() or 1]
    quota = cpu_quota(cgroup)
    if quota is not None:
        counts.append(math.ceil(quota))
    return max(1, min(counts))


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The cgroup's CPU quota in CPUs (1.5 for `--cpus=1.5`), or None when it has none."""
    v2 = _read(cgroup / "cpu.max")
    if v2 is not None:  # "max 100000" (no quota) or "150000 100000"
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else _ratio(quota, period)
    for controller in ("cpu", "cpu,cpuacct"):
        quota = _read(cgroup / controller / "cpu.cfs_quota_us")  # -1: no quota
        period = _read(cgroup / controller / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return None if quota.startswith("-") else _ratio(quota, period)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        cpus = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return cpus if cpus > 0 else None


def server_processes() -> int:
    """The server's processes: WEB_CONCURRENCY, or else one per CPU the container may use
    and at least two, so that one serves while the server restarts the other."""
    return int(os.environ.get("WEB_CONCURRENCY") or max(2, available_cpus()))


def threads_per_process() -> int:
    """The threads each server process may keep busy: the container's CPUs shared among
    the processes."""
    return max(1, available_cpus() // server_processes())


# The native thread pools that numpy's BLAS (OpenBLAS, MKL) and OpenMP start when they
# are loaded, one thread per host core unless told otherwise.
NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_native_threads() -> None:
    """Size the native thread pools to threads_per_process(), unless already set. It must
    run before numpy is imported, so the server calls it before starting its processes,
    which inherit the environment."""
    for variable in NATIVE_THREAD_VARIABLES:
        os.environ.setdefault(variable, str(threads_per_process()))
