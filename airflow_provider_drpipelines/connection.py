"""The ``datarobot_pipelines`` connection: its form fields and how its values become client settings.

The form fields are declared once here and rendered both as provider-info ``conn-fields`` (Airflow >= 3.2)
and as wtforms widgets (Airflow 2.11-3.1), so labels never drift between versions.
"""

from __future__ import annotations

import functools
import json
import math
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import ssl


def _config_error(message: str) -> Exception:
    # Imported on use: exceptions imports airflow, whose provider discovery imports this module through
    # get_provider_info, so a top-level import fails when this module (or exceptions) is imported first.
    from airflow_provider_drpipelines.exceptions import DataRobotConfigError

    return DataRobotConfigError(message)


#: The connection type (``conn_type``); the URI scheme is ``datarobot-pipelines://``.
CONN_TYPE: Final = "datarobot_pipelines"
#: The connection id every operator, sensor and the hook use unless told otherwise.
DEFAULT_CONN_ID: Final = "datarobot_pipelines_default"
#: The connection type's name in the Airflow UI.
HOOK_NAME: Final = "DataRobot Pipelines"
#: The endpoint used when the connection has no host.
DEFAULT_ENDPOINT: Final = "https://app.datarobot.com"
#: The API's path below the endpoint; added to the host, which may already end in it.
API_PATH: Final = "/api/v2"
#: Seconds one HTTP request may take in all when the connection's ``timeout`` extra is unset.
DEFAULT_TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True)
class ExtraField:
    """One connection extra shown in the Airflow UI form.

    :param name: the key in the connection's extra JSON.
    :param label: the form field's label.
    :param description: the help text under it.
    :param json_type: its JSON schema type for ``conn-fields`` (Airflow >= 3.2).
    """

    name: str
    label: str
    description: str
    json_type: str = "string"


#: The connection's extras, in form order: ``verify``, ``timeout``, ``proxies``, ``ui_url``.
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

#: Which standard fields the form hides, relabels and fills with placeholders. Copy it before changing it.
#: The port stays visible: Airflow 3.3.2's Test button fails on a connection without one (its UI sends
#: port 0), so a user of that version enters the endpoint's port there.
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
    """Everything a client needs to talk to one pipelines API; hashable, so clients can be pooled by it.

    Build it with :meth:`from_connection`, which validates every field. The token is left out of ``repr``.

    :param api_url: the API's base URL, ending in ``/api/v2``.
    :param token: the API token.
    :param ui_url: the DataRobot UI's base URL, for run links.
    :param verify: True, False, or the path of a CA bundle (see :meth:`tls_context`).
    :param timeout: seconds one HTTP request may take in all, connect to last byte.
    :param proxies: the ``proxies`` extra as sorted ``(scheme, proxy URL)`` pairs (see :meth:`proxy_url`).
    """

    api_url: str
    token: str = field(repr=False)
    ui_url: str
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    proxies: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_connection(
        cls,
        conn_id: str,
        host: str | None,
        password: str | None,
        port: int | None,
        extra: str | dict[str, Any] | None,
    ) -> ConnectionSettings:
        """Validate an Airflow connection's fields into settings; errors name the field, never the token.

        :param conn_id: the connection's id, named in error messages.
        :param host: the DataRobot endpoint, with or without ``/api/v2``; a bare host name means https.
        :param password: the API token.
        :param port: a port to add when the host carries none.
        :param extra: the connection's extras (``verify``, ``timeout``, ``proxies``, ``ui_url``), as the JSON
            text Airflow stores or already decoded. Pass ``conn.extra``, not ``conn.extra_dejson``: that one
            registers every string value as a secret, so a ``verify`` of ``false`` would be starred out of
            every log line and a short value logs "Skipping masking for a secret as it's too short".
        :raises DataRobotConfigError: for a missing or unsendable token, a malformed endpoint or a bad extra.
        """
        extra = _decode_extra(extra, conn_id)
        _check_token(password, conn_id)
        assert password is not None  # checked above; mypy cannot see through it
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
        """The full URL of an API path.

        :param path: a path below the API URL such as ``/pipelines``, already percent-encoded.
        """
        return self.api_url + path

    @property
    def uses_tls(self) -> bool:
        """Whether the API is https: only then is a TLS context built (loading the trust stores costs ~20 ms)."""
        return self.api_url.startswith("https://")

    def tls_context(self) -> ssl.SSLContext:
        """The one TLS context both clients use, so ``verify`` means the same to requests and aiohttp.

        ``verify=False`` checks nothing; a path trusts only that bundle; True trusts ``REQUESTS_CA_BUNDLE`` or
        ``SSL_CERT_FILE`` when set, else the system's trust store together with certifi's.

        :raises DataRobotConfigError: when the CA bundle cannot be loaded.
        """
        bundle = _environment_ca_bundle() if self.verify is True else None
        try:
            return _tls_context(self.verify, bundle)
        except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
            source = "the 'verify' extra" if isinstance(self.verify, str) else "REQUESTS_CA_BUNDLE/SSL_CERT_FILE"
            raise _config_error(
                f"The CA bundle {self.verify if isinstance(self.verify, str) else bundle!r} from {source} "
                f"cannot be loaded as PEM certificates: {err}"
            ) from None

    def proxy_url(self) -> str | None:
        """The proxy every request of this connection goes through, or None: one rule for both clients.

        The ``proxies`` extra wins (by the API's scheme, else ``all``). Otherwise the environment's
        ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` apply unless ``NO_PROXY`` names the host, with the
        standard library's matching rules (``.corp.example`` also covers ``corp.example``).
        """
        from urllib.request import getproxies_environment, proxy_bypass_environment  # type: ignore[attr-defined]

        parts = urlsplit(self.api_url)
        configured = dict(self.proxies)
        if configured:
            return configured.get(parts.scheme) or configured.get("all")
        environment = getproxies_environment()
        proxy = environment.get(parts.scheme) or environment.get("all")
        if not proxy or proxy_bypass_environment(parts.netloc, environment):
            return None
        return proxy

    def run_url(self, pipeline_id: str, run_id: str) -> str:
        """Where a person looks at a run; the UI path is the one the emulator serves too.

        :param pipeline_id: the pipeline's id.
        :param run_id: the run's id.
        """
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
    """``https://host[:port][/prefix]`` without a trailing ``/api/v2``; a bare host name means https.

    :param endpoint: the connection's host field.
    :param port: the connection's port field, used when the endpoint names none.
    :param conn_id: the connection's id, named in error messages.
    :raises DataRobotConfigError: for a non-http(s) or malformed URL, credentials before ``@``, or ``.``/``..``
        path segments.
    """
    raw = endpoint.strip()
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        parts = urlsplit("invalid://")
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in raw or parts.query or parts.fragment:
        raise _config_error(
            f"Connection {conn_id!r}: endpoint {_public_endpoint(endpoint)!r} is not an http(s) URL "
            f"(expected something like {DEFAULT_ENDPOINT})."
        )
    if "@" in parts.netloc:
        raise _config_error(
            f"Connection {conn_id!r}: the endpoint carries a user name or password before '@'; put the API token "
            "in the connection's password field and write the endpoint without credentials."
        )
    netloc = _ascii_netloc(parts.netloc, conn_id)
    netloc = netloc if port is None or parts.port else f"{netloc}:{port}"
    path = _ascii_path(parts.path, conn_id).rstrip("/")
    if path.endswith(API_PATH):
        path = path[: -len(API_PATH)]
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _public_endpoint(endpoint: str) -> str:
    """The endpoint as it may be quoted in an error: without anything before an '@' (a password)."""
    scheme, sep, rest = endpoint.strip().rpartition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


def _ascii_netloc(netloc: str, conn_id: str) -> str:
    """An internationalised host name in its IDNA (``xn--``) form, which every HTTP client sends as is."""
    if netloc.isascii():
        return netloc.lower()
    host, colon, port = netloc.rpartition(":") if netloc.rsplit(":", 1)[-1].isdigit() else (netloc, "", "")
    try:
        return host.encode("idna").decode("ascii").lower() + colon + port
    except UnicodeError:
        raise _config_error(f"Connection {conn_id!r}: the endpoint's host {host!r} is not a valid host name.") from None


def _ascii_path(path: str, conn_id: str) -> str:
    """The endpoint's path prefix percent-encoded once, with no ``.``/``..`` segments left to resolve."""
    from urllib.parse import quote

    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        normalised = posixpath.normpath(path) if path else path
        raise _config_error(
            f"Connection {conn_id!r}: the endpoint's path {path!r} has '.' or '..' segments; "
            f"write it without them (e.g. {normalised!r})."
        )
    return quote(path, safe="/%:@!$&'()*+,;=-._~")


def _check_token(token: str | None, conn_id: str) -> None:
    """Refuse a token that is not printable ASCII, naming the field and never the value.

    A bearer token is ASCII (RFC 6750's ``b64token``), and so are the API keys DataRobot issues. Anything else
    either cannot go in an HTTP header (a line break, a NUL) or goes out differently from the two clients
    (requests encodes a header as Latin-1, aiohttp as UTF-8): the worker and the triggerer would present
    different credentials for one connection.
    """
    if not token or not token.strip():
        raise _config_error(missing_token_message(conn_id))
    if not (token.isascii() and token.isprintable()):
        raise _config_error(
            f"Connection {conn_id!r}: the API token (password field) contains a line break, a tab, a control or a "
            "non-ASCII character; a DataRobot API token is printable ASCII only. Paste the token again."
        )


def _environment_ca_bundle() -> str | None:
    """A CA bundle named by the environment: ``REQUESTS_CA_BUNDLE`` first, then ``SSL_CERT_FILE``."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if path := os.environ.get(name, "").strip():
            return path
    return None


@functools.cache
def _tls_context(verify: bool | str, environment_bundle: str | None) -> ssl.SSLContext:
    """``verify=False``: no checks; a path: only that bundle; true: the environment's bundle, else the
    system's trust store together with certifi's (the union of what aiohttp and requests trust by default)."""
    import ssl

    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    bundle = verify if isinstance(verify, str) else environment_bundle
    if bundle is not None:
        return ssl.create_default_context(cafile=bundle)
    import certifi

    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    return context


def _decode_extra(extra: str | dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    if isinstance(extra, dict):
        return extra
    try:
        decoded = json.loads(extra) if extra else {}
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise _config_error(f"Connection {conn_id!r}: its extra is not a JSON object.")
    return decoded


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
        timeout = -1.0 if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        timeout = -1.0
    if not math.isfinite(timeout) or timeout <= 0:
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
    if not isinstance(value, dict) or not all(isinstance(v, str) and _is_proxy_url(v) for v in value.values()):
        raise _config_error(
            f"Connection {conn_id!r}: extra 'proxies' must be a JSON object of scheme -> http(s) proxy URL, "
            'e.g. {"https": "http://proxy:3128"}.'
        )
    return tuple(sorted((str(k), v) for k, v in value.items()))


def _is_proxy_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def provider_conn_fields() -> dict[str, Any]:
    """The extras as provider-info ``conn-fields`` (read without importing the hook, Airflow >= 3.2)."""
    return {
        f.name: {"label": f.label, "description": f.description, "schema": {"type": [f.json_type, "null"]}}
        for f in EXTRA_FIELDS
    }


def provider_ui_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in provider-info's kebab-case keys."""
    return {key.replace("_", "-"): value for key, value in UI_FIELD_BEHAVIOUR.items()}
