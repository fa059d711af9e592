"""Deploy DAGs the integration tests run with dag.test(); the source path and pipeline name come from the run conf."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_drpipelines.operators import DataRobotDeployPipelineOperator

POLLS = {"timeout": 30, "poll_interval": 0.2, "max_poll_interval": 0.5}


def _deploy_dag(dag_id: str, deferrable: bool, retry_limit: int = 6) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        DataRobotDeployPipelineOperator(
            task_id="deploy",
            source="{{ dag_run.conf['source'] }}",
            pipeline_name="{{ dag_run.conf['name'] }}",
            deferrable=deferrable,
            hook_params={"retry_delay": 0.05, "retry_limit": retry_limit},
            **POLLS,
        )
    return dag


it_deploy_worker = _deploy_dag("it_deploy_worker", deferrable=False)
it_deploy_deferrable = _deploy_dag("it_deploy_deferrable", deferrable=True)
# One attempt per request: a fault on every attempt of a try fails that try at once.
it_deploy_one_attempt_worker = _deploy_dag("it_deploy_one_attempt_worker", deferrable=False, retry_limit=1)
it_deploy_one_attempt_deferrable = _deploy_dag("it_deploy_one_attempt_deferrable", deferrable=True, retry_limit=1)
