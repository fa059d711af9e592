"""The provider in Airflow 2.11's UI, in headless Chromium: where it differs from 3.3 (tests/ui/test_airflow3_ui.py).

The form comes from the hook's wtforms widgets; Test sits in the Add/Edit form and answers in an alert; the Edit
form blanks the saved token, so the provider asks for it again; the extra link is in the grid's Details panel.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from airflow_provider_drpipelines.connection import EXTRA_FIELDS
from scripts.local_airflow import TOKEN, LocalAirflow
from tests._support.deployment import AIRFLOW_VERSION, free_port
from tests.ui.conftest import CASES, DAG_ID, RUN_TIMEOUT
from tests.ui.pages import click, type_into, visible, wait

pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(AIRFLOW_VERSION is None or AIRFLOW_VERSION >= (3,), reason="the Airflow 2 UI"),
]

#: The answer of Test: an alert other than the form's standing "Fields that are currently populated" warning.
TEST_ALERT = "//*[contains(@class, 'alert')][not(contains(., 'currently populated'))]"
#: Every extra link of the grid's Details panel, which lives inside shadow roots.
FIND_LINKS = """
const found = [];
const walk = (root) => root.querySelectorAll('*').forEach((el) => {
  if (el.shadowRoot) walk(el.shadowRoot);
  if (el.tagName === 'A' && el.textContent.trim() === arguments[0]) found.push(el.getAttribute('href'));
});
walk(document);
return found;
"""


def _add_form(driver: WebDriver, url: str, conn_id: str, host: str, token: str) -> None:
    driver.get(f"{url}/connection/add")
    wait("the form", lambda: visible(driver, "//select[@id='conn_type']/.."))
    driver.execute_script("$('#conn_type').val('datarobot_pipelines').trigger('change');")  # a select2 widget
    type_into(driver.find_element(By.ID, "conn_id"), conn_id)
    type_into(driver.find_element(By.ID, "host"), host)
    type_into(driver.find_element(By.ID, "password"), token)


def _press_test(driver: WebDriver, shot: Callable[[str], Path], step: str = "test-answer") -> str:
    driver.execute_script("document.querySelectorAll('.alert').forEach((e) => e.remove());")  # no stale answer
    click(driver, "//button[@id='test-connection']")
    alert = wait("the Test answer", lambda: visible(driver, TEST_ALERT))
    driver.execute_script("arguments[0].scrollIntoView();", alert)  # it shows at the top of the form
    shot(step)
    return str(alert.text)


def _label(driver: WebDriver, input_id: str) -> str:
    return str(driver.find_element(By.XPATH, f"//label[@for='{input_id}']").text.strip())


def test_connection_form_offers_the_datarobot_type_with_labels_and_help(
    airflow: LocalAirflow, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    _add_form(driver, airflow.url, "", "", "")

    assert _label(driver, "host") == "DataRobot endpoint"
    assert _label(driver, "password") == "API token"
    assert driver.find_element(By.ID, "password").get_attribute("type") == "password"
    assert driver.find_element(By.ID, "port").is_displayed(), "the port stays, as on 3.3"
    assert not driver.find_element(By.ID, "login").is_displayed()
    form = driver.find_element(By.TAG_NAME, "body").text
    for field in EXTRA_FIELDS:
        assert _label(driver, f"extra__datarobot_pipelines__{field.name}") == field.label
        assert field.description in form
    shot("form")


def test_save_and_reopen_then_test_from_edit_asks_for_the_token_again(
    airflow: LocalAirflow, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    _add_form(driver, airflow.url, "ui_saved", airflow.emulator.base_url, TOKEN)
    type_into(driver.find_element(By.ID, "extra__datarobot_pipelines__timeout"), "7")
    click(driver, "//input[@type='submit' and @value='Save'] | //button[@type='submit'][normalize-space()='Save']")
    wait("the save", lambda: visible(driver, "//*[contains(@class, 'alert')][contains(., 'Added Row')]"))
    driver.get(f"{airflow.url}/connection/list/")

    click(driver, "//tr[.//td[normalize-space()='ui_saved']]//a[contains(@href, '/connection/edit/')]")
    host = wait("the edit form", lambda: visible(driver, "//input[@id='host']"))
    assert host.get_attribute("value") == airflow.emulator.base_url
    assert driver.find_element(By.ID, "extra__datarobot_pipelines__timeout").get_attribute("value") == "7"
    assert driver.find_element(By.ID, "password").get_attribute("value") == "", "Airflow 2 blanks the saved token"
    shot("reopened")

    message = _press_test(driver, shot, "test-from-edit-without-token")
    assert "No API token to test with: enter the DataRobot API token in the API token field again" in message

    type_into(driver.find_element(By.ID, "password"), TOKEN)
    message = _press_test(driver, shot, "test-with-the-token-entered-again")
    assert "Connected to the DataRobot pipelines API at" in message, message


SAME_CASES = {case: expected for case, expected in CASES.items() if "3_3_2" not in case}


@pytest.mark.parametrize(("case", "expected"), list(SAME_CASES.items()), ids=list(SAME_CASES))
def test_test_button_tells_what_is_wrong(
    case: str, expected: str, airflow: LocalAirflow, foreign_host: str, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    hosts = {"unreachable_host": f"http://127.0.0.1:{free_port()}", "not_datarobot": foreign_host}
    token = "refused-token-0123456789" if case == "refused_token" else TOKEN
    _add_form(driver, airflow.url, f"ui_{case}", hosts.get(case, airflow.emulator.base_url), token)

    message = _press_test(driver, shot)

    assert expected in message, message


def test_trigger_the_example_dag_then_follow_the_extra_link_to_the_run_page(
    airflow: LocalAirflow, driver: WebDriver, shot: Callable[[str], Path]
) -> None:
    driver.get(f"{airflow.url}/dags/{DAG_ID}/trigger")
    field = wait("the trigger form", lambda: visible(driver, "//input[@id='element_pipeline_id']"))
    assert field.get_attribute("value") == airflow.pipeline_id, "the pipeline_id param defaults to the example"
    shot("trigger-form")
    click(driver, "//button[normalize-space()='Trigger']")

    def finished_run() -> tuple[str, str] | None:
        with sqlite3.connect(airflow.home / "airflow.db") as db:
            row = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? AND run_type = 'manual' ORDER BY id DESC",
                (DAG_ID,),
            ).fetchone()
        return row if row and row[1] in ("success", "failed") else None

    run_id, state = wait("the triggered run to finish", finished_run, RUN_TIMEOUT, interval=2)
    assert state == "success"
    query = urllib.parse.urlencode({"dag_run_id": run_id, "task_id": "run_pipeline"})
    driver.get(f"{airflow.url}/dags/{DAG_ID}/grid?{query}")
    hrefs = wait("the extra link", lambda: driver.execute_script(FIND_LINKS, "DataRobot pipeline run"))
    (href,) = hrefs
    assert href.startswith(f"{airflow.emulator.base_url}/pipelines/{airflow.pipeline_id}/runs/"), href
    shot("extra-link")

    driver.get(href)
    wait("the run page to show COMPLETED", lambda: driver.find_element(By.ID, "status").text == "COMPLETED")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#tasks tr.task")) == 3
    shot("run-page")
