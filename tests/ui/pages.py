"""Small selenium helpers shared by the browser tests: waiting, and finding things by their visible text."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

T = TypeVar("T")
TIMEOUT = 30.0


def wait(what: str, probe: Callable[[], T | None], timeout: float = TIMEOUT, interval: float = 0.25) -> T:
    """``probe()`` until it returns something truthy; browser hiccups (stale or missing elements) are retried."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except (StaleElementReferenceException, WebDriverException) as error:
            last = error
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def visible(driver: WebDriver | WebElement, xpath: str) -> WebElement | None:
    """The first displayed element matching ``xpath``, or None."""
    return next((e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed()), None)


def click(driver: WebDriver | WebElement, xpath: str, what: str = "") -> WebElement:
    element = wait(what or xpath, lambda: visible(driver, xpath))
    wait(f"{what or xpath} to be clickable", element.is_enabled)
    element.click()
    return element


def text_of(driver: WebDriver, xpath: str) -> str:
    element = visible(driver, xpath)
    return element.text if element is not None else ""


def type_into(element: WebElement, value: str) -> None:
    element.clear()
    element.send_keys(value)
