"""The provider in Airflow 3.3's UI, in headless Chromium: the connection form, Test, a triggered example, the link.

The deployment is ``make airflow``'s (scripts/local_airflow.py). Test sits on each connection's row in the list;
Airflow 3.3.2 answers it with a toast. Its portless-connection bug (the UI sends port 0) is shown, and so is the
workaround: a connection saved with a port.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from airflow_provider_drpipelines.connection import EXTRA_FIELDS
from scripts.local_airflow import TOKEN, LocalAirflow
from tests._support.deployment import AIRFLOW_VERSION, free_port
from tests.ui.conftest import CASES, DAG_ID, RUN_TIMEOUT
from tests.ui.pages import click, text_of, type_into, visible, wait

pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(
        AIRFLOW_VERSION is None or AIRFLOW_VERSION < (3, 3), reason="the Airflow 3.3 UI (2.11: test_airflow2_ui)"
    ),
]

DIALOG = "//*[@role='dialog']"
TOAST = "//*[@id='toast-group:bottom-end']"


def _add_connection_form(driver: WebDriver, url: str) -> None:
    driver.get(f"{url}/connections")
    click(driver, "//button[normalize-space()='Add Connection']")
    combo = wait("the connection type picker", lambda: visible(driver, f"{DIALOG}//input[@role='combobox']"))
    combo.click()
    combo.send_keys("DataRobot")
    click(driver, "//*[@role='option'][normalize-space()='DataRobot Pipelines']", "the DataRobot Pipelines type")
    wait("the provider's fields", lambda: visible(driver, f"{DIALOG}//input[@name='host']"))


def _label(driver: WebDriver, input_name: str) -> str:
    field = driver.find_element(By.XPATH, f"{DIALOG}//input[@name='{input_name}']/ancestor::*[@role='group'][1]")
    return str(field.find_element(By.TAG_NAME, "label").text.strip())


def _row_button(driver: WebDriver, conn_id: str, label: str) -> str:
    return f"//tr[.//td[normalize-space()='{conn_id}']]//button[@aria-label='{label}']"


def _test_from_list(driver: WebDriver, url: str, conn_id: str, shot: Callable[[str], Path]) -> str:
    """Press Test on the connection's row; the toast's text (screenshot taken while it shows)."""
    driver.get(f"{url}/connections")
    click(driver, _row_button(driver, conn_id, "Test Connection"), f"Test on {conn_id}")
    message = wait(f"the Test answer for {conn_id}", lambda: "\n" in text_of(driver, TOAST) and text_of(driver, TOAST))
    shot("toast")
    return message


def test_connection_form_offers_the_datarobot_type_with_labels_and_help(
    airflow: LocalAirflow, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    _add_connection_form(driver, airflow.url)

    assert _label(driver, "host") == "DataRobot endpoint"
    assert _label(driver, "password") == "API token"
    token = driver.find_element(By.XPATH, f"{DIALOG}//input[@name='password']")
    assert token.get_attribute("type") == "password"
    assert "your DataRobot API token" in (token.get_attribute("placeholder") or "")
    assert visible(driver, f"{DIALOG}//input[@name='port']") is not None, "the port stays: 3.3.2's Test needs one"
    assert visible(driver, f"{DIALOG}//input[@name='login']") is None
    shot("standard-fields")
    click(driver, f"{DIALOG}//button[contains(., 'Extra Fields') and not(contains(., 'JSON'))]")
    dialog = driver.find_element(By.XPATH, DIALOG)
    wait("the extra fields", lambda: EXTRA_FIELDS[0].label in dialog.text)
    for field in EXTRA_FIELDS:
        assert field.label in dialog.text
        assert field.description in dialog.text
    shot("extra-fields")


def test_save_and_reopen_then_test_succeeds_with_the_port_workaround(
    airflow: LocalAirflow, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    emulator_port = str(airflow.connection()["port"])
    _add_connection_form(driver, airflow.url)
    type_into(driver.find_element(By.XPATH, f"{DIALOG}//input[@name='connection_id']"), "ui_saved")
    type_into(driver.find_element(By.XPATH, f"{DIALOG}//input[@name='host']"), airflow.emulator.base_url)
    type_into(driver.find_element(By.XPATH, f"{DIALOG}//input[@name='password']"), TOKEN)
    type_into(driver.find_element(By.XPATH, f"{DIALOG}//input[@name='port']"), emulator_port)
    click(driver, f"{DIALOG}//button[contains(., 'Extra Fields') and not(contains(., 'JSON'))]")
    type_into(wait("the timeout field", lambda: visible(driver, "//*[@id='number-input:element_timeout']//input")), "7")
    shot("filled")
    click(driver, f"{DIALOG}//button[normalize-space()='Save']")
    wait("the dialog to close", lambda: visible(driver, DIALOG) is None)
    wait("the saved row", lambda: visible(driver, "//td[normalize-space()='ui_saved']"))

    click(driver, _row_button(driver, "ui_saved", "Edit Connection"))
    host = wait("the edit form", lambda: visible(driver, f"{DIALOG}//input[@name='host']"))
    assert host.get_attribute("value") == airflow.emulator.base_url
    assert driver.find_element(By.XPATH, f"{DIALOG}//input[@name='port']").get_attribute("value") == emulator_port
    assert driver.find_element(By.XPATH, f"{DIALOG}//input[@name='password']").get_attribute("type") == "password"
    click(driver, f"{DIALOG}//button[contains(., 'Extra Fields') and not(contains(., 'JSON'))]")
    timeout = wait("the timeout field", lambda: visible(driver, "//*[@id='number-input:element_timeout']//input"))
    assert timeout.get_attribute("value") == "7"
    shot("reopened")

    message = _test_from_list(driver, airflow.url, "ui_saved", shot)
    assert "Connected to the DataRobot pipelines API at" in message, message


@pytest.mark.parametrize(("case", "expected"), list(CASES.items()), ids=list(CASES))
def test_test_button_tells_what_is_wrong(
    case: str, expected: str, airflow: LocalAirflow, foreign_host: str, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    emulator = airflow.connection()
    hosts = {"unreachable_host": f"http://127.0.0.1:{free_port()}", "not_datarobot": foreign_host}
    host = hosts.get(case, airflow.emulator.base_url)
    body: dict[str, Any] = {
        "connection_id": f"ui_{case}",
        "conn_type": "datarobot_pipelines",
        "host": host,
        "port": None if case.startswith("no_port") else int(host.rsplit(":", 1)[1]),
        "password": "refused-token-0123456789" if case == "refused_token" else emulator["password"],
    }
    assert airflow.deployment is not None
    airflow.deployment.api("POST", "/connections", expect=(201,), json=body)

    message = _test_from_list(driver, airflow.url, f"ui_{case}", shot)

    assert expected in message, message


def _trigger_from_the_ui(airflow: LocalAirflow, driver: WebDriver, shot: Callable[[str], Path]) -> dict[str, Any]:
    """Trigger the example with its defaults from the Trigger dialog; the new dag run once it finished."""
    assert airflow.deployment is not None
    api = airflow.deployment.api
    before = {r["dag_run_id"] for r in api("GET", f"/dags/{DAG_ID}/dagRuns")["dag_runs"]}
    driver.get(f"{airflow.url}/dags/{DAG_ID}")
    click(driver, "//button[@aria-label='Trigger Dag']")
    wait("the trigger form", lambda: visible(driver, "//*[contains(., 'Run Parameters')]"))
    values = [field.get_attribute("value") for field in driver.find_elements(By.XPATH, f"{DIALOG}//input")]
    assert airflow.pipeline_id in values, "the pipeline_id param defaults to the example pipeline"
    shot("trigger-form")
    triggers = [b for b in driver.find_elements(By.XPATH, "//button[normalize-space()='Trigger']") if b.is_displayed()]
    triggers[-1].click()  # the dialog's own button, after the page header's
    wait("the trigger dialog to close", lambda: visible(driver, DIALOG) is None)

    def finished_run() -> dict[str, Any] | None:
        runs = api("GET", f"/dags/{DAG_ID}/dagRuns?run_type=manual")["dag_runs"]
        return next((r for r in runs if r["dag_run_id"] not in before and r["state"] in ("success", "failed")), None)

    return wait("the triggered run to finish", finished_run, RUN_TIMEOUT, interval=2)


def test_trigger_the_example_dag_then_follow_the_extra_link_to_the_run_page(
    airflow: LocalAirflow, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    assert airflow.deployment is not None
    for _ in range(3):  # Airflow's LocalExecutor race may fail a deferring task (see Deployment.hit_executor_race)
        dag_run = _trigger_from_the_ui(airflow, driver, shot)
        if dag_run["state"] == "success" or not airflow.deployment.hit_executor_race(dag_run["dag_run_id"]):
            break
        print(f"[ui] {dag_run['dag_run_id']}: Airflow's executor race failed the task; triggering again")
    assert dag_run["state"] == "success", dag_run
    ti_url = f"{airflow.url}/dags/{DAG_ID}/runs/{dag_run['dag_run_id']}/tasks/run_pipeline"
    driver.get(ti_url)
    wait("the task's Success badge", lambda: visible(driver, "//*[normalize-space()='Success']"))
    shot("task-succeeded")

    click(driver, "//*[self::a or self::button][normalize-space()='Details']", "the Details tab")
    link = wait("the extra link", lambda: visible(driver, "//a[normalize-space()='DataRobot pipeline run']"))
    href = str(link.get_attribute("href"))
    assert href.startswith(f"{airflow.emulator.base_url}/pipelines/{airflow.pipeline_id}/runs/"), href
    shot("extra-link")

    driver.get(href)
    wait("the run page to show COMPLETED", lambda: text_of(driver, "//*[@id='status']") == "COMPLETED")
    tasks = driver.find_elements(By.CSS_SELECTOR, "#tasks tr.task")
    assert [row.find_elements(By.TAG_NAME, "td")[2].text for row in tasks] == ["COMPLETED"] * 3
    shot("run-page")
