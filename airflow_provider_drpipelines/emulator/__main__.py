"""``python -m airflow_provider_drpipelines.emulator`` and the ``drpipelines-emulator`` console script."""

from __future__ import annotations

import argparse

from airflow_provider_drpipelines.emulator.config import EmulatorConfig
from airflow_provider_drpipelines.emulator.server import serve

DEFAULTS = EmulatorConfig()


def parser() -> argparse.ArgumentParser:
    """The command line; its defaults are ``EmulatorConfig``'s."""
    parser = argparse.ArgumentParser(
        prog="drpipelines-emulator", description="Local emulator of DataRobot's pipelines REST API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8100, help="port; 0 picks a free one (default %(default)s)")
    parser.add_argument("--token", default=DEFAULTS.token, help="API token clients must send (default %(default)s)")
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=DEFAULTS.run_seconds,
        help="default duration of a run (default %(default)s)",
    )
    parser.add_argument(
        "--image-seconds",
        type=float,
        default=DEFAULTS.image_seconds,
        help="how long an image version stays CREATING (default %(default)s)",
    )
    parser.add_argument(
        "--version-seconds",
        type=float,
        default=DEFAULTS.version_seconds,
        help="how long a new pipeline version stays PENDING (default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn log level (default %(default)s)",
    )
    return parser


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(args.token, args.run_seconds, args.image_seconds, args.version_seconds)


def main(argv: list[str] | None = None) -> None:
    command_line = parser()
    args = command_line.parse_args(argv)
    try:
        config = config_from(args)
    except ValueError as exc:
        command_line.error(str(exc))
    serve(config, args.host, args.port, args.log_level)


if __name__ == "__main__":
    main()
