"""``python -m airflow_provider_drpipelines.emulator`` and the ``drpipelines-emulator`` console script."""

from __future__ import annotations

import argparse

from airflow_provider_drpipelines.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="drpipelines-emulator", description="Local emulator of DataRobot's pipelines REST API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8100, help="port; 0 picks a free one (default %(default)s)")
    parser.add_argument("--token", default="emulator-token", help="API token clients must send (default %(default)s)")
    parser.add_argument(
        "--run-seconds", type=float, default=2.0, help="default duration of a run (default %(default)s)"
    )
    parser.add_argument(
        "--image-seconds",
        type=float,
        default=1.0,
        help="how long an image version stays CREATING (default %(default)s)",
    )
    parser.add_argument(
        "--version-seconds",
        type=float,
        default=0.5,
        help="how long a new pipeline version stays PENDING (default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn log level (default %(default)s)",
    )
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.token, args.run_seconds, args.image_seconds, args.log_level, args.version_seconds)


if __name__ == "__main__":
    main()
