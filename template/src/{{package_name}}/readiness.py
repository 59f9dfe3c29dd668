"""Dependency checks behind GET /ready and the entrypoint's wait: the service may take
traffic only when they pass. The checks themselves are listed in dependencies.py."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One backing service: its name in /ready, the setting to fix when it fails, and a
    call that raises when it does not answer."""

    name: str
    setting: str
    run: Callable[[], object]


# What a failed connection means, found in the driver's message (psycopg's, redis-py's),
# in the order they are tried: PostgreSQL says "role ... does not exist" for a wrong user,
# "database ... does not exist" for a missing database.
_CAUSES = (
    (
        "authentication failed",
        (
            "authentication failed",
            "authentication required",
            "no password supplied",
            "password",
            "wrongpass",
            "noauth",
            'role "',
        ),
    ),
    ("database missing", ("does not exist",)),
    (
        "host not found",
        (
            "name or service not known",
            "nodename nor servname",
            "failed to resolve host",
            "name resolution",
            "could not translate host name",
            "no address associated with hostname",
            "getaddrinfo failed",
        ),
    ),
    ("connection refused", ("connection refused", "actively refused")),
    # SQLAlchemy's pool: every connection in use for longer than DATABASE_POOL_TIMEOUT.
    ("every connection busy", ("queuepool limit",)),
    ("timeout", ("timeout", "timed out")),
)


def describe_failure(error: BaseException) -> str:
    """Why a dependency did not answer, in words. Never the driver's message itself, which
    may quote the connection string; the words are enough to know what to fix."""
    # An error that names its cause in words (model_lock.ModelError) is taken at its word.
    named = getattr(error, "cause", None)
    if isinstance(named, str):
        return named
    messages = []
    seen: BaseException | None = error
    while seen is not None and len(messages) < 5:
        messages.append(str(seen).lower())
        seen = seen.__cause__ or seen.__context__
    found = " ".join(messages)
    for cause, markers in _CAUSES:
        if any(marker in found for marker in markers):
            return cause
    if isinstance(error, TimeoutError):
        return "timeout"
    return f"failed ({type(error).__name__})"


def check_readiness(checks: Iterable[Check]) -> tuple[bool, dict[str, str]]:
    """Return (ready, {dependency: "ok" | "unavailable: <cause>"}) without raising."""
    states: dict[str, str] = {}
    for check in checks:
        try:
            check.run()
            states[check.name] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            states[check.name] = f"unavailable: {describe_failure(error)}"
    return all(state == "ok" for state in states.values()), states
