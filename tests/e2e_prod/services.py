"""PostgreSQL and Redis servers of the production-shaped suite, each on a free port under a temp directory.

They come from the Debian packages (``scripts/e2e-prod-deps.sh`` installs them), but never as the system
services: each test session starts its own servers, in their own process groups, and stops them at the end.
PostgreSQL refuses to run as root; as root the cluster belongs to the ``postgres`` user the package creates.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests._support.deployment import free_port, phase, wait_for

START_TIMEOUT = 60.0
STOP_GRACE = 15.0
DB_USER = "airflow"
DB_NAME = "airflow_e2e_prod"


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps them under /usr/lib/postgresql/<major>)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/e2e-prod-deps.sh (or `make e2e-prod`)")
    return found[-1].parent


def _server_user() -> str | None:
    """``postgres`` when running as root (PostgreSQL refuses root), else None: the current user."""
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class Server:
    """A server process in its own process group, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"{self.name} exited with {code}:\n{tail}")

    def stop(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _spawn(name: str, args: list[str], log_path: Path, user: str | None = None) -> Server:
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            user=user,
            group=None if user is None else pwd.getpwnam(user).pw_gid,
        )
    return Server(name, process, log_path)


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster with a fresh database; yields its SQLAlchemy URL. Drops and stops it."""
    import psycopg2

    bin_dir = _postgres_bin()
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="drpipelines-pg-"))
    data = root / "data"
    data.mkdir()
    if user is not None:
        account = pwd.getpwnam(user)
        for path in (root, data):
            os.chown(path, account.pw_uid, account.pw_gid)
    port = free_port()
    dsn = f"host=127.0.0.1 port={port} user={DB_USER}"
    server: Server | None = None

    def stop() -> None:
        if server is not None and server.process.poll() is None:
            server.stop(signal.SIGINT)  # "fast" shutdown: does not wait for clients to disconnect
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    try:
        with phase("postgres start"):
            initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust", "-E", "UTF8"]
            init = _spawn("initdb", [*initdb, "--no-sync"], root / "initdb.log", user)
            if init.process.wait(START_TIMEOUT) != 0:
                raise RuntimeError(f"initdb failed:\n{(root / 'initdb.log').read_text(errors='replace')}")
            # A test database: durability is not what is tested, and the machine is shared.
            settings = {
                "listen_addresses": "127.0.0.1",
                "port": str(port),
                "unix_socket_directories": str(root),
                "max_connections": "300",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
            options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
            server = _spawn("postgres", [str(bin_dir / "postgres"), "-D", str(data), *options], root / "pg.log", user)

            def accepts() -> bool:
                assert server is not None
                server.check_alive()
                try:
                    psycopg2.connect(f"{dsn} dbname=postgres", connect_timeout=2).close()
                except psycopg2.OperationalError:
                    return False
                return True

            wait_for("PostgreSQL to accept connections", accepts, START_TIMEOUT, 0.2)
            _admin(dsn, f"CREATE DATABASE {DB_NAME}")
        yield f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"
        _admin(dsn, f"DROP DATABASE {DB_NAME} WITH (FORCE)")
    finally:
        with phase("postgres stop"):
            stop()
        atexit.unregister(stop)


def _admin(dsn: str, statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{dsn} dbname=postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


@contextlib.contextmanager
def redis() -> Iterator[str]:
    """A Redis server without persistence; yields its URL (database 0). Stops it."""
    import redis as redis_client

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run scripts/e2e-prod-deps.sh (or `make e2e-prod`)")
    root = Path(tempfile.mkdtemp(prefix="drpipelines-redis-"))
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server: Server | None = None

    def stop() -> None:
        if server is not None and server.process.poll() is None:
            server.stop(signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    try:
        with phase("redis start"):
            server = _spawn("redis", [*args, "--dir", str(root)], root / "redis.log")
            client = redis_client.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2)

            def pong() -> bool:
                assert server is not None
                server.check_alive()
                try:
                    return bool(client.ping())
                except redis_client.ConnectionError:
                    return False

            wait_for("Redis to answer PING", pong, START_TIMEOUT, 0.1)
            client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        with phase("redis stop"):
            stop()
        atexit.unregister(stop)
