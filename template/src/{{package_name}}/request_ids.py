"""The id of the request being served, in every log line it causes and in the Celery tasks
it enqueues. A client's (or proxy's) X-Request-ID is kept when it is well-formed; any other
value is replaced, never logged: a header must not be able to forge log lines."""

import re
import secrets
from contextvars import ContextVar

HEADER = "X-Request-ID"
# Up to 128 ASCII letters, digits and -_.:/+= : UUIDs, W3C trace ids, AWS and Heroku ids.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# "-" outside a request (startup, a task nobody's request enqueued).
current: ContextVar[str] = ContextVar("request_id", default="-")


def accept_or_new(header: str | None) -> str:
    """The client's id when it is well-formed, else a new one."""
    if header is not None and _WELL_FORMED.fullmatch(header):
        return header
    return secrets.token_hex(16)
