"""The ``datarobot_pipelines`` connection: its form fields and how its values become client settings.

The form fields are declared once here and rendered both as provider-info ``conn-fields`` (Airflow >= 3.2)
and as wtforms widgets (Airflow 2.11-3.1), so labels never drift between versions.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit


def _config_error(message: str) -> Exception:
    # Imported on use: exceptions imports airflow, whose provider discovery imports this module through
    # get_provider_info, so a top-level import fails when this module (or exceptions) is imported first.
    from airflow_provider_drpipelines.exceptions import DataRobotConfigError

    return DataRobotConfigError(message)


CONN_TYPE: Final = "datarobot_pipelines"
DEFAULT_CONN_ID: Final = "datarobot_pipelines_default"
HOOK_NAME: Final = "DataRobot Pipelines"
DEFAULT_ENDPOINT: Final = "https://app.datarobot.com"
API_PATH: Final = "/api/v2"
DEFAULT_TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True)
class ExtraField:
    """One connection extra shown in the Airflow UI form."""

    name: str
    label: str
    description: str
    json_type: str = "string"


EXTRA_FIELDS: Final = (
    ExtraField(
        "verify",
        "TLS verification",
        "true (default), false to skip certificate checks, or the path of a CA bundle file.",
    ),
    ExtraField(
        "timeout",
        "Request timeout (seconds)",
        f"Timeout of one HTTP request; default {DEFAULT_TIMEOUT_SECONDS:g}.",
        "number",
    ),
    ExtraField(
        "proxies",
        "Proxies (JSON)",
        'Proxy URLs by scheme, e.g. {"https": "http://proxy.example.com:3128"}.',
    ),
    ExtraField(
        "ui_url",
        "DataRobot UI base URL",
        "Base URL for links to pipeline runs when the UI is not on the API host.",
    ),
)

# The port stays visible: Airflow 3.3.2's Test button fails on a connection without one (its UI sends port 0),
# so a user of that version enters the endpoint's port there.
UI_FIELD_BEHAVIOUR: Final[dict[str, Any]] = {
    "hidden_fields": ["schema", "login"],
    "relabeling": {"host": "DataRobot endpoint", "password": "API token"},
    "placeholders": {
        "host": "https://app.datarobot.com (with or without /api/v2)",
        "password": "your DataRobot API token",
        "port": "optional, e.g. 443 (a port written in the endpoint wins)",
    },
}
#: The id Airflow's UI gives the throwaway connection its Test button runs (``get_random_string()``).
_UI_TEST_CONN_ID = re.compile(r"[A-Za-z0-9]{8}")


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything a client needs to talk to one pipelines API; hashable, so clients can be pooled by it."""

    api_url: str
    token: str = field(repr=False)
    ui_url: str
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    proxies: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_connection(
        cls, conn_id: str, host: str | None, password: str | None, port: int | None, extra: dict[str, Any]
    ) -> ConnectionSettings:
        if not password:
            raise _config_error(missing_token_message(conn_id))
        base_url = normalise_endpoint(host or DEFAULT_ENDPOINT, port, conn_id)
        ui_url = _extra(extra, "ui_url")
        return cls(
            api_url=base_url + API_PATH,
            token=password,
            ui_url=normalise_endpoint(ui_url, None, conn_id) if ui_url else base_url,
            verify=_parse_verify(_extra(extra, "verify"), conn_id),
            timeout=_parse_timeout(_extra(extra, "timeout"), conn_id),
            proxies=_parse_proxies(_extra(extra, "proxies"), conn_id),
        )

    def url(self, path: str) -> str:
        return self.api_url + path

    def run_url(self, pipeline_id: str, run_id: str) -> str:
        """Where a person looks at a run; the UI path is the one the emulator serves too."""
        from urllib.parse import quote

        return f"{self.ui_url}/pipelines/{quote(pipeline_id, safe='')}/runs/{quote(run_id, safe='')}"


def missing_token_message(conn_id: str) -> str:
    """Why a connection without a token cannot work; for a UI Test, that the token must be entered again.

    Airflow 2's Edit form blanks the saved password and its Test button sends the form as it is, under a random
    8-character connection id exported as ``AIRFLOW_CONN_<ID>``: that id would mean nothing to the user.
    """
    if _UI_TEST_CONN_ID.fullmatch(conn_id) and f"AIRFLOW_CONN_{conn_id.upper()}" in os.environ:
        return (
            "No API token to test with: enter the DataRobot API token in the API token field again, then Test "
            "(the Edit form does not send the saved token back)."
        )
    return f"Connection {conn_id!r} has no API token: put the DataRobot API token in its password field."


def normalise_endpoint(endpoint: str, port: int | None, conn_id: str) -> str:
    """``https://host[:port][/prefix]`` without a trailing ``/api/v2``; a bare host name means https."""
    raw = endpoint.strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        parts = parts._replace(scheme="invalid")
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in raw:
        raise _config_error(
            f"Connection {conn_id!r}: endpoint {endpoint!r} is not an http(s) URL "
            f"(expected something like {DEFAULT_ENDPOINT})."
        )
    netloc = parts.netloc if port is None or parts.port else f"{parts.netloc}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith(API_PATH):
        path = path[: -len(API_PATH)]
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _extra(extra: dict[str, Any], name: str) -> Any:
    """Read an extra saved either plainly or with the ``extra__<conn_type>__`` prefix of older UIs."""
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _parse_verify(value: Any, conn_id: str) -> bool | str:
    if value is None or isinstance(value, bool):
        return True if value is None else value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    if not os.path.isfile(text):
        raise _config_error(
            f"Connection {conn_id!r}: extra 'verify' is {text!r}, which is neither true/false "
            "nor the path of an existing CA bundle file."
        )
    return text


def _parse_timeout(value: Any, conn_id: str) -> float:
    if value is None:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = -1.0
    if timeout <= 0:
        raise _config_error(
            f"Connection {conn_id!r}: extra 'timeout' must be a positive number of seconds, got {value!r}."
        )
    return timeout


def _parse_proxies(value: Any, conn_id: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _config_error(
            f"Connection {conn_id!r}: extra 'proxies' must be a JSON object of scheme -> proxy URL, "
            'e.g. {"https": "http://proxy:3128"}.'
        )
    return tuple(sorted((str(k), v) for k, v in value.items()))


def provider_conn_fields() -> dict[str, Any]:
    """The extras as provider-info ``conn-fields`` (read without importing the hook, Airflow >= 3.2)."""
    return {
        f.name: {"label": f.label, "description": f.description, "schema": {"type": [f.json_type, "null"]}}
        for f in EXTRA_FIELDS
    }


def provider_ui_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in provider-info's kebab-case keys."""
    return {key.replace("_", "-"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def connection_form_widgets() -> dict[str, Any]:
    """The extras as wtforms widgets for Airflow 2.11-3.1, whose UI ignores ``conn-fields``."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import StringField
    from wtforms.validators import Optional

    return {
        f.name: StringField(
            lazy_gettext(f.label),
            widget=BS3TextFieldWidget(),
            description=f.description,
            validators=[Optional()],
        )
        for f in EXTRA_FIELDS
    }
