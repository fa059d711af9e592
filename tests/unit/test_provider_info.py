"""Provider metadata: schema, discovery through the entry point, importable paths, connection form."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import airflow
import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_2_PLUS

from airflow_provider_drpipelines.connection import EXTRA_FIELDS
from airflow_provider_drpipelines.get_provider_info import get_provider_info
from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook

DISTRIBUTION = "airflow-provider-drpipelines"
PACKAGE = "airflow_provider_drpipelines"
#: Modules other engineers are still writing: skipped while they do not exist, checked once they do.
#: Modules provider info must name: a section that loses one fails, and so does a missing module.
EXPECTED_MODULES = {f"{PACKAGE}.{name}" for name in ("hooks", "operators", "sensors", "triggers", "readiness")}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_validates_against_airflow_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_is_the_distribution_name():
    info = get_provider_info()
    dist = importlib.metadata.distribution(DISTRIBUTION)
    assert info["package-name"] == DISTRIBUTION == _canonical(dist.metadata["Name"])
    assert info["versions"] == [dist.version]


def test_entry_point_points_at_get_provider_info():
    dist = importlib.metadata.distribution(DISTRIBUTION)
    (entry_point,) = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert entry_point.value == f"{PACKAGE}.get_provider_info:get_provider_info"
    assert entry_point.load() is get_provider_info


def _named_paths() -> list[tuple[str, str | None]]:
    """(module, attribute or None) for every module and class the provider info names."""
    info = get_provider_info()
    paths: list[tuple[str, str | None]] = []
    for key in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(key, []):
            paths += [(module, None) for module in entry["python-modules"]]
    for conn_type in info["connection-types"]:
        paths.append(tuple(conn_type["hook-class-name"].rsplit(".", 1)))
    paths += [tuple(name.rsplit(".", 1)) for name in info.get("extra-links", [])]
    return paths


@pytest.mark.parametrize(("module", "attribute"), _named_paths(), ids=lambda v: v or "-")
def test_named_paths_are_importable(module, attribute):
    imported = importlib.import_module(module)
    if attribute is not None:
        assert isinstance(getattr(imported, attribute), type)


def test_named_paths_cover_every_section():
    modules = {module for module, _ in _named_paths()}
    assert modules >= EXPECTED_MODULES


def test_connection_type_and_conn_fields():
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == DataRobotPipelinesHook.conn_type == "datarobot_pipelines"
    assert conn_type["hook-name"] == DataRobotPipelinesHook.hook_name
    assert conn_type["hook-class-name"] == f"{PACKAGE}.hooks.DataRobotPipelinesHook"
    fields = conn_type["conn-fields"]
    assert list(fields) == [f.name for f in EXTRA_FIELDS]
    for name, field in fields.items():
        assert field["label"].strip(), name
        assert field["description"].strip(), name
        assert "null" in field["schema"]["type"], name  # every extra is optional
    assert conn_type["ui-field-behaviour"]["relabeling"] == {"host": "DataRobot endpoint", "password": "API token"}


def test_hook_ui_field_behaviour():
    behaviour = DataRobotPipelinesHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"host": "DataRobot endpoint", "password": "API token"}
    assert set(behaviour["hidden_fields"]) == {"schema", "login"}, "the port stays: Airflow 3.3.2 Test needs one"
    assert behaviour["placeholders"]["password"]
    # A deep copy: callers mutating it, nested values included, do not change the class's behaviour.
    behaviour["relabeling"]["host"] = "changed"
    behaviour["hidden_fields"].append("port")
    behaviour["relabeling"] = {}
    fresh = DataRobotPipelinesHook.get_ui_field_behaviour()
    assert fresh["relabeling"]["host"] == "DataRobot endpoint"
    assert "port" not in fresh["hidden_fields"]


def test_hook_connection_form_widgets():
    pytest.importorskip("wtforms", reason="wtforms/flask-appbuilder are only installed with Airflow 2.x")
    pytest.importorskip("flask_appbuilder")
    widgets = DataRobotPipelinesHook.get_connection_form_widgets()
    assert set(widgets) == {f.name for f in EXTRA_FIELDS}


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ProvidersManager.hooks is deprecated for task-runtime use in 3.3
        manager = ProvidersManager()
        manager.initialize_providers_hooks()
        yield manager


def test_providers_manager_discovers_the_provider(providers_manager):
    provider = providers_manager.providers[DISTRIBUTION]
    assert provider.data["name"] == "DataRobot Pipelines"


def test_providers_manager_lists_the_hook(providers_manager):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hook_info = providers_manager.hooks["datarobot_pipelines"]
    assert hook_info.hook_class_name == f"{PACKAGE}.hooks.DataRobotPipelinesHook"
    assert hook_info.connection_id_attribute_name == "datarobot_pipelines_conn_id"
    assert hook_info.hook_name == "DataRobot Pipelines"
    assert hook_info.connection_testable  # the hook defines test_connection


def test_providers_manager_connection_form(providers_manager):
    widgets = {k: v for k, v in providers_manager.connection_form_widgets.items() if "datarobot_pipelines" in k}
    if not AIRFLOW_V_3_2_PLUS and importlib.util.find_spec("wtforms") is None:
        # Airflow 3.0-3.1 read hook forms only when wtforms is installed (the FAB provider brings it); without
        # it the connection shows the standard fields and the extras are edited as JSON.
        assert widgets == {}
        assert "datarobot_pipelines" not in providers_manager.field_behaviours
        return
    assert set(widgets) == {f"extra__datarobot_pipelines__{f.name}" for f in EXTRA_FIELDS}
    for extra in EXTRA_FIELDS:
        widget = widgets[f"extra__datarobot_pipelines__{extra.name}"]
        assert widget.field_name == extra.name
        if AIRFLOW_V_3_2_PLUS:  # declarative conn-fields from provider info
            assert widget.field["schema"]["title"] == extra.label
        else:  # the hook's wtforms widgets (Airflow 2.11-3.1)
            assert str(widget.field.args[0]) == extra.label
        assert not widget.is_sensitive
    behaviour = providers_manager.field_behaviours["datarobot_pipelines"]
    assert behaviour["relabeling"] == {"host": "DataRobot endpoint", "password": "API token"}


def test_connection_module_importable_before_airflow(tmp_path):
    """Importing it first makes airflow discover providers, whose get_provider_info imports it again (was a cycle)."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    code = f"import {PACKAGE}.connection, {PACKAGE}.exceptions"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
