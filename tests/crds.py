"""Custom resources validated against the schemas their CRDs publish, strictly, as
kubernetes-validate validates the built-in kinds (which it alone knows): a field the schema
does not declare is an error.

schemas/ holds the Gateway API's standard-channel CRDs of one release, as published
(config/crd/standard in kubernetes-sigs/gateway-api, tag v1.6.1). The API server also runs
their CEL rules (x-kubernetes-validations); those are not evaluated here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMAS = Path(__file__).with_name("schemas")


def _as_json_schema(schema: Any) -> Any:
    """An OpenAPI v3 schema of a CRD as JSON Schema: Kubernetes' extensions spelled out,
    and every object closed to properties it does not declare."""
    if isinstance(schema, list):
        return [_as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {
        # A map of names to schemas: each value is a schema, the map is not.
        key: {name: _as_json_schema(sub) for name, sub in value.items()}
        if key in ("properties", "patternProperties")
        else _as_json_schema(value)
        for key, value in schema.items()
    }
    if converted.pop("x-kubernetes-int-or-string", False):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if converted.pop("nullable", False) and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    if (
        "properties" in converted
        and "additionalProperties" not in converted
        and not converted.get("x-kubernetes-preserve-unknown-fields")
    ):
        converted["additionalProperties"] = False
    return converted


@cache
def schemas() -> dict[tuple[str, str], dict]:
    """Each served version's schema, by (apiVersion, kind)."""
    found = {}
    for path in sorted(SCHEMAS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version["served"]:
                found[(f"{group}/{version['name']}", kind)] = _as_json_schema(
                    version["schema"]["openAPIV3Schema"]
                )
    return found


def knows(thing: dict) -> bool:
    return (thing["apiVersion"], thing["kind"]) in schemas()


def violations(thing: dict) -> list[str]:
    """Where `thing` breaks its CRD's schema: each error's path and message."""
    schema = schemas()[(thing["apiVersion"], thing["kind"])]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(thing)
    ]
