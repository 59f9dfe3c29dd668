"""Response bodies shared by every endpoint, as they appear in the OpenAPI document."""

from typing import Literal

from pydantic import BaseModel

# FastAPI's answer (400) to a body it cannot even decode, before any validation.
NOT_JSON = "the body is not JSON text"


class Problem(BaseModel):
    """Why a request was not served: 400, 404, 409, 503 (422 lists the invalid fields)."""

    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    # Each dependency: "ok", or "unavailable: <cause>" (authentication failed, host not
    # found, connection refused, database missing, timeout).
    checks: dict[str, str]
