"""Fixtures of the browser suite: the ``make airflow`` deployment in a temporary home, and headless Chromium.

Chromium and its driver are Debian packages, installed by scripts/ui-browser.sh when missing (CI runs as root).
Every test saves screenshots of its steps under ``.ci-results/screenshots/airflow-<version>/``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from scripts.local_airflow import LocalAirflow
from tests._support.deployment import REPO, free_port, terminate_on_sigterm

AIRFLOW_VERSION = metadata.version("apache-airflow")
SCREENSHOTS = REPO / ".ci-results" / "screenshots" / f"airflow-{AIRFLOW_VERSION}"
DAG_ID = "example_datarobot_pipeline_run"
RUN_TIMEOUT = 180.0  # trigger -> scheduled -> worker -> deferred -> 3 s run -> done
#: What Test answers for each broken connection (the tests make the connection).
CASES = {
    "refused_token": "The API token was refused (HTTP 401)",
    "unreachable_host": "Cannot reach http://127.0.0.1:",
    "not_datarobot": "does not look like a DataRobot pipelines API",
    # Airflow 3.3.2's UI sends port 0 for a connection without a port (fixed upstream after 3.3.2).
    "no_port_airflow_3_3_2_bug": "Bad Request",
}


@pytest.fixture(scope="session")
def airflow() -> Iterator[LocalAirflow]:
    """What ``make airflow`` starts, on free ports and in a fresh home."""
    home = Path(tempfile.mkdtemp(prefix="drpipelines-ui-home-"))
    with terminate_on_sigterm(), LocalAirflow(home, free_port()) as local:
        yield local
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def driver() -> Iterator[object]:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # only this run's
    subprocess.run([str(REPO / "scripts" / "ui-browser.sh")], check=True)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--no-proxy-server",  # everything is on 127.0.0.1
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
def shot(driver: object, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a screenshot named after the test and the step."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = request.node.name.removeprefix("test_").replace("[", "-").rstrip("]")

    def save(step: str) -> Path:
        path = SCREENSHOTS / f"{test}--{step}.png"
        driver.save_screenshot(str(path))  # type: ignore[attr-defined]
        return path

    return save


@pytest.fixture(scope="module")
def foreign_host() -> Iterator[str]:
    """An HTTP server that is not a DataRobot API (Python's static file server: 404 for /api/v2/...)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as empty:
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", empty],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test leaves a screenshot of where the browser stood."""
    report = yield
    driver = getattr(item, "funcargs", {}).get("driver")
    if report.failed and driver is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / f"{item.name.removeprefix('test_')}--FAILED.png"))
    return report
