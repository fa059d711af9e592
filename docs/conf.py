"""Sphinx configuration of the API reference (``make docs``): autodoc over the package, MyST for the guides."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Importing the operators imports Airflow, which writes a config into AIRFLOW_HOME: keep it out of ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(REPO / "build" / "docs" / "airflow-home"))

from airflow_provider_drpipelines import __version__  # noqa: E402

project = "airflow-provider-drpipelines"
author = "airflow-provider-drpipelines contributors"
copyright = "the airflow-provider-drpipelines contributors"
release = version = __version__

extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns: list[str] = []

# The README and docs/emulator.md are written for GitHub: headings are their anchors, nothing more.
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# Inherited members stay off: BaseHook's and BaseOperator's members are Airflow's to document, and the hook's
# endpoints have their own page (reference/endpoints.rst, PipelinesApi) instead of appearing twice. The
# documented modules are the public ones; a package's __all__ names what its page shows.
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

# `make docs` runs nitpicky (-n): every reference to this package must resolve. Names from outside it have no
# target without intersphinx, which needs the network CI does not have, so they are exempt by namespace.
nitpick_ignore_regex = [
    ("py:.*", r"(typing|collections\.abc|datetime|os|ssl|asyncio|pathlib)\..*"),
    ("py:.*", r"(airflow|requests|aiohttp|yarl)(\..*)?"),
    # Type names autodoc shows unqualified: typing aliases, Airflow's base classes, the endpoint TypeVar.
    ("py:.*", r"(Any|Awaitable|Callable|Collection|Iterator|AsyncIterator|Sequence|Final|ClassVar|Literal|NoReturn)"),
    ("py:.*", r"(BaseHook|BaseOperator|BaseSensorOperator|BaseTrigger|BaseOperatorLink|AirflowException)"),
    ("py:.*", r"(TaskInstanceKey|Context|TriggerEvent|PokeReturnValue|T|R|timedelta|datetime)"),
    # Private transport types that appear in signatures: internals a DAG author never builds.
    ("py:.*", r"(airflow_provider_drpipelines\.client\.wire\.)?(ApiRequest|RetryPolicy|UploadFile)"),
    ("py:.*", r"(airflow_provider_drpipelines\.client\.(paths|endpoints)\.)?(SourceFile|R)"),
    # The TypeVars of the endpoint catalogue's parts and the hook.
    ("py:class", r"airflow_provider_drpipelines(\.\w+)*\.(R|T)"),
    # Internal base classes shown by show-inheritance (the operators' common base, the build-wait base, the
    # triggers' polling engine).
    ("py:class", r"airflow_provider_drpipelines(\.\w+)*\.(_\w+|PipelinesBaseOperator|PollingTrigger)"),
]

html_theme = "alabaster"
html_title = f"{project} {release}"
