"""One EmulatorConfig: its defaults are the only defaults, and every entry point maps onto it."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_provider_drpipelines.emulator import Clock, EmulatorConfig, EmulatorProcess, EmulatorServer, create_app
from airflow_provider_drpipelines.emulator.__main__ import config_from, main, parser
from airflow_provider_drpipelines.emulator.faults import FaultBook, FaultSpec
from airflow_provider_drpipelines.emulator.state import Store

SETTINGS = ("token", "run_seconds", "image_seconds", "version_seconds")


def settings(config: EmulatorConfig) -> tuple[object, ...]:
    return tuple(getattr(config, name) for name in SETTINGS)


def test_every_entry_point_defaults_to_the_configs_defaults() -> None:
    defaults = settings(EmulatorConfig())
    assert defaults == ("emulator-token", 2.0, 1.0, 0.5)
    assert settings(config_from(parser().parse_args([]))) == defaults  # the CLI
    assert settings(EmulatorServer().config) == defaults
    assert settings(EmulatorProcess().config) == defaults
    assert settings(create_app().store.config) == defaults


def test_the_process_launcher_passes_its_whole_config_to_the_cli() -> None:
    launcher = EmulatorProcess(token="tok", run_seconds=0.1, image_seconds=0.2, version_seconds=0.3)
    args = parser().parse_args(launcher.command()[3:])
    assert settings(config_from(args)) == ("tok", 0.1, 0.2, 0.3)


def test_keyword_arguments_replace_fields_of_the_given_config() -> None:
    base = EmulatorConfig(token="base", run_seconds=5.0)
    server = EmulatorServer(base, run_seconds=7.0, version_seconds=0.0)
    assert settings(server.config) == ("base", 7.0, 1.0, 0.0)
    assert server.token == "base"
    assert settings(create_app(base, image_seconds=3.0).store.config) == ("base", 5.0, 3.0, 0.5)
    assert base.run_seconds == 5.0  # the given config is left as it was


def test_the_store_reads_timings_and_clock_from_the_config() -> None:
    clock = Clock(frozen_at=100.0)
    store = Store(EmulatorConfig(image_seconds=4.0, clock=clock))
    image = store.create_image("img", None, {"name": "img", "packages": []})
    assert (image.versions[0].created_at, image.versions[0].ready_at) == (100.0, 104.0)


def test_each_config_has_its_own_clock_unless_given_one() -> None:
    first, second = EmulatorConfig(), EmulatorConfig()
    assert first.clock is not second.clock
    shared = Clock()
    assert dataclasses.replace(EmulatorConfig(clock=shared), token="x").clock is shared


@pytest.mark.parametrize("field", ["run_seconds", "image_seconds", "version_seconds"])
def test_timings_must_be_finite_and_not_negative(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        EmulatorConfig(**{field: -1.0})  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as refused:  # the CLI says so before it binds any port
        main([f"--{field.replace('_', '-')}", "-1"])
    assert refused.value.code == 2


def test_the_process_launcher_refuses_a_clock_it_cannot_share() -> None:
    with pytest.raises(ValueError, match="advance"):
        EmulatorProcess(clock=Clock(frozen_at=0.0))
    advanced = Clock()
    advanced.advance(1)
    with pytest.raises(ValueError, match="advance"):
        EmulatorProcess(EmulatorConfig(clock=advanced))


def test_fault_book_takes_a_rule_object_and_counts_its_times_down() -> None:
    book = FaultBook()
    rule = book.add(FaultSpec(method="get", path="/status/?$", status=503, times=2))
    assert rule.spec.method == "GET" and rule.as_json()["times"] == 2
    assert book.take("POST", "/x/status") is None
    assert book.take("GET", "/x/status") is rule and book.take("GET", "/x/status/") is rule
    assert book.take("GET", "/x/status") is None and book.list() == []
    unlimited = book.add(FaultSpec(delay=0.5, times=0))
    assert unlimited.remaining is None and not unlimited.spec.answers
