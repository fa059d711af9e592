"""On Airflow 2 the event trigger imports (the package must) and refuses to be built, saying what to use."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_drpipelines.exceptions import DataRobotConfigError
from airflow_provider_drpipelines.triggers import DataRobotPipelineRunEventTrigger


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 3 builds it")
def test_building_it_on_airflow_2_is_a_clear_error():
    with pytest.raises(DataRobotConfigError, match=r"needs Airflow >= 3\.0.*ended_after"):
        DataRobotPipelineRunEventTrigger(pipeline_id="p")
