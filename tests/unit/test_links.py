"""The "DataRobot pipeline run" extra link reads the URL the run operator pushed to XCom."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_drpipelines import links
from airflow_provider_drpipelines.get_provider_info import get_provider_info
from airflow_provider_drpipelines.links import RUN_URL_XCOM_KEY, DataRobotPipelineRunLink
from airflow_provider_drpipelines.operators import DataRobotRunPipelineOperator


@pytest.fixture
def xcom(monkeypatch):
    """Replace ``XCom.get_value`` with a lookup in a dict keyed by XCom key; records the calls."""
    values: dict[str, Any] = {}
    calls: list[dict[str, Any]] = []

    def get_value(*, key: str, ti_key: Any) -> Any:
        calls.append({"key": key, "ti_key": ti_key})
        return values.get(key)

    monkeypatch.setattr(links.XCom, "get_value", get_value)
    return values, calls


def test_link_name():
    assert DataRobotPipelineRunLink.name == "DataRobot pipeline run"
    assert DataRobotPipelineRunLink().name == "DataRobot pipeline run"


def test_get_link_reads_the_run_url_xcom(xcom):
    values, calls = xcom
    values[RUN_URL_XCOM_KEY] = "https://app.datarobot.com/pipelines/p/runs/r"
    ti_key = object()

    url = DataRobotPipelineRunLink().get_link(operator=None, ti_key=ti_key)

    assert url == "https://app.datarobot.com/pipelines/p/runs/r"
    assert calls == [{"key": "run_url", "ti_key": ti_key}]


def test_get_link_is_empty_before_the_run_exists(xcom):
    assert DataRobotPipelineRunLink().get_link(operator=None, ti_key=object()) == ""


def test_the_run_operator_and_provider_info_list_the_link():
    assert any(isinstance(link, DataRobotPipelineRunLink) for link in DataRobotRunPipelineOperator.operator_extra_links)
    assert "airflow_provider_drpipelines.links.DataRobotPipelineRunLink" in get_provider_info().get("extra-links", [])
