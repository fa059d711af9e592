"""The emulator as a process: ready line, --port 0, SIGTERM shutdown, and no Airflow import."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests

from airflow_provider_drpipelines.emulator import EmulatorProcess
from airflow_provider_drpipelines.emulator.server import READY_PATTERN


def test_emulator_process_prints_the_ready_line_and_stops_on_sigterm() -> None:
    emu = EmulatorProcess(token="proc-token", run_seconds=0.2)
    with emu:
        assert READY_PATTERN.search("".join(emu.output)).group(1) == emu.base_url  # type: ignore[union-attr]
        assert emu.base_url.startswith("http://127.0.0.1:") and not emu.base_url.endswith(":0")
        response = requests.get(f"{emu.api_url}/version/", headers={"Authorization": "Token proc-token"}, timeout=5)
        assert response.status_code == 200
        emu.add_fault(path="/version", status=503)
        assert (
            requests.get(f"{emu.api_url}/version", headers={"Authorization": "Token proc-token"}, timeout=5).status_code
            == 503
        )
        assert emu.request_log()[-1]["status"] == 503
        assert emu.advance(90)["advancedSeconds"] == 90  # the child's clock
        process = emu.process
    assert process is not None and process.returncode == 0  # SIGTERM → clean uvicorn shutdown


def test_module_cli_with_port_zero_prints_one_ready_line_then_exits_on_sigterm() -> None:
    command = [sys.executable, "-m", "airflow_provider_drpipelines.emulator", "--port", "0", "--token", "t"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = READY_PATTERN.search(line)
        assert match and line == f"DataRobot pipelines emulator listening on {match.group(1)}/api/v2\n"
        assert requests.get(f"{match.group(1)}/health", timeout=5).json() == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert process.stdout.read() == ""  # exactly one line


def test_importing_the_emulator_does_not_import_airflow() -> None:
    probe = "import sys, airflow_provider_drpipelines.emulator; print('airflow' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
