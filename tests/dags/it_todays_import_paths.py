"""A DAG written against the import paths the provider documented before its role folders (issue 22).

It must parse and run unchanged: every name each documented module exported then is imported from that module.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_drpipelines.hooks import DataRobotPipelinesHook
from airflow_provider_drpipelines.links import (
    RUN_ID_XCOM_KEY,
    RUN_URL_XCOM_KEY,
    VERSION_XCOM_KEY,
    DataRobotPipelineRunLink,
)
from airflow_provider_drpipelines.operators import (
    RUN_STATE_KEY,
    DataRobotCancelPipelineRunOperator,
    DataRobotCreatePipelineInputOperator,
    DataRobotDeployPipelineOperator,
    DataRobotGetPipelineRunResultsOperator,
    DataRobotPipelineImageOperator,
    DataRobotRunPipelineOperator,
    PipelineTaskMixin,
    resolve_payload,
)
from airflow_provider_drpipelines.readiness import DataRobotReadinessTrigger
from airflow_provider_drpipelines.sensors import DataRobotPipelineRunSensor
from airflow_provider_drpipelines.triggers import (
    EVENT_ERROR,
    EVENT_TIMEOUT,
    USER_ACTION_CANCEL_MSG,
    DataRobotPipelineRunTrigger,
    task_instance_identity,
)

FAST = {"poll_interval": 0.2, "max_poll_interval": 0.5, "hook_params": {"retry_delay": 0.05}}
DEPLOYED = "{{ ti.xcom_pull(task_ids='deploy') }}"

with DAG("it_todays_import_paths", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
    deploy = DataRobotDeployPipelineOperator(
        task_id="deploy",
        source="{{ dag_run.conf['source'] }}",
        pipeline_name="{{ dag_run.conf['name'] }}",
        deferrable=True,
        timeout=30,
        **FAST,
    )
    image = DataRobotPipelineImageOperator(
        task_id="image",
        name="{{ dag_run.conf['name'] }} image",
        packages=["pandas"],
        python_version="3.12",
        deferrable=True,
        timeout=30,
        **FAST,
    )
    create_input = DataRobotCreatePipelineInputOperator(
        task_id="create_input",
        pipeline_id="{{ ti.xcom_pull(task_ids='deploy')['pipeline_id'] }}",
        version="latest",
        payload={"batch_date": "{{ ds }}"},
    )
    run = DataRobotRunPipelineOperator(
        task_id="run",
        pipeline_id="{{ ti.xcom_pull(task_ids='deploy')['pipeline_id'] }}",
        version="latest",
        input_id="{{ ti.xcom_pull(task_ids='create_input') }}",
        deferrable=True,
        **FAST,
    )
    watch = DataRobotPipelineRunSensor(
        task_id="watch",
        pipeline_id="{{ ti.xcom_pull(task_ids='deploy')['pipeline_id'] }}",
        run_id="{{ ti.xcom_pull(task_ids='run', key='" + RUN_ID_XCOM_KEY + "') }}",
        version="latest",
        deferrable=True,
        poke_interval=0.2,
    )
    results = DataRobotGetPipelineRunResultsOperator(
        task_id="results",
        pipeline_id="{{ ti.xcom_pull(task_ids='deploy')['pipeline_id'] }}",
        run_id="{{ ti.xcom_pull(task_ids='run', key='" + RUN_ID_XCOM_KEY + "') }}",
    )
    cancel = DataRobotCancelPipelineRunOperator(
        task_id="cancel",
        pipeline_id="{{ ti.xcom_pull(task_ids='deploy')['pipeline_id'] }}",
        run_id="{{ ti.xcom_pull(task_ids='run', key='" + RUN_ID_XCOM_KEY + "') }}",
        version="latest",
    )

    @task
    def names_still_mean_what_they_meant() -> dict[str, str]:
        """The constants and helpers DAG authors may have imported, used the way they were."""
        assert issubclass(DataRobotRunPipelineOperator, PipelineTaskMixin)
        links = DataRobotRunPipelineOperator.operator_extra_links
        assert any(isinstance(link, DataRobotPipelineRunLink) for link in links)
        assert resolve_payload({"a": "{{ 1 }}"}, {"a": "1"}) == {"a": 1}
        hook = DataRobotPipelinesHook()
        assert hook.conn_name_attr == "datarobot_pipelines_conn_id"
        classpaths = {
            DataRobotPipelineRunTrigger(pipeline_id="p", run_id="r", version=1).serialize()[0],
            DataRobotReadinessTrigger(kind="pipeline_version", resource_id="p", version=1).serialize()[0],
        }
        assert callable(task_instance_identity)
        return {
            "keys": ",".join((RUN_ID_XCOM_KEY, RUN_URL_XCOM_KEY, VERSION_XCOM_KEY, RUN_STATE_KEY)),
            "events": ",".join((EVENT_ERROR, EVENT_TIMEOUT, USER_ACTION_CANCEL_MSG)),
            "classpaths": ",".join(sorted(classpaths)),
        }

    deploy >> create_input >> run >> watch >> results >> cancel >> names_still_mean_what_they_meant()
    image >> create_input
