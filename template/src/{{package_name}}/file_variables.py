"""Settings read from files named by NAME_FILE variables, the convention of the official
postgres image (POSTGRES_PASSWORD_FILE). Docker Swarm and Kubernetes mount secrets as
files; a value read from one is never in the container's environment, which `docker
inspect` and `kubectl describe` show."""

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource, SettingsError


class FileVariables(PydanticBaseSettingsSource):
    """DATABASE_URL_FILE=/run/secrets/database-url sets `database_url` to that file's
    content, without its final newline."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{field_name.upper()}_FILE"
        path = os.environ.get(variable)
        if not path:
            return None, field_name, False
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            message = f"{variable} names {path}, which cannot be read: {error.strerror}"
            raise SettingsError(message) from None
        return value.rstrip("\r\n"), field_name, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = value
        return values
