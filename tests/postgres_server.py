"""A throwaway PostgreSQL server for the test session.

``start()`` returns a running :class:`PostgresServer`:

* when ``SPANLOG_TEST_POSTGRES_URI`` is set (a SQLAlchemy URL ``postgresql+psycopg://...``), that server is used
  as is and never stopped by us;
* otherwise the Debian server binaries (``/usr/lib/postgresql/<version>/bin``, highest version) build a fresh
  cluster in a temporary directory (under /dev/shm when that is a big tmpfs), listening on 127.0.0.1 on a free
  port with trust authentication and no fsync; ``stop()`` kills it and deletes the directory.

PostgreSQL refuses to run as root, so as root the directory is handed to the ``postgres`` user and the
binaries run through ``runuser`` (or ``su``).

When no binaries are found, :class:`PostgresNotInstalled` says to install the Debian package ``postgresql``;
``SPANLOG_ALLOW_NO_POSTGRES=1`` lets the fixtures skip instead (see ``tests/store/conftest.py``).
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

URI_ENV = "SPANLOG_TEST_POSTGRES_URI"
ALLOW_MISSING_ENV = "SPANLOG_ALLOW_NO_POSTGRES"
BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"

# Durability is pointless for a throwaway server; these make it several times faster. wal_level=minimal lets
# CREATE DATABASE skip writing the copied template to the WAL (3-5x faster on a slow disk).
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
}
# The cluster lives in RAM when /dev/shm is a big enough tmpfs (not in Docker's default 64 MB one): creating
# a database then costs ~15 ms instead of 30-300 ms on a VM disk where creating files is slow.
_SHM = "/dev/shm"
_SHM_MIN_FREE = 1 << 30
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def missing_allowed() -> bool:
    """True when a developer chose to skip PostgreSQL tests on a machine without the server."""
    return os.environ.get(ALLOW_MISSING_ENV) == "1"


def find_bindir() -> Path:
    """The ``bin`` directory of the highest installed Debian PostgreSQL version."""
    found = []
    for bindir in glob.glob(BIN_GLOB):
        version = Path(bindir).parent.name
        if (Path(bindir) / "initdb").exists() and (Path(bindir) / "pg_ctl").exists():
            key = tuple(int(part) for part in re.findall(r"\d+", version))
            found.append((key, Path(bindir)))
    if not found:
        raise PostgresNotInstalled(
            f"PostgreSQL server binaries not found ({BIN_GLOB}/initdb, pg_ctl): install the Debian package "
            f"'postgresql' (apt-get install postgresql), or set {URI_ENV} to a server's SQLAlchemy URL"
            f" (set {ALLOW_MISSING_ENV}=1 to skip the PostgreSQL tests instead)"
        )
    return max(found)[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"not a plain lower-case database name: {name!r}")
    return name


class PostgresServer:
    """A running server: make URLs, create and drop databases, stop it (also as a context manager)."""

    def __init__(self, base_url: URL, *, datadir: Path | None = None, runner: _Runner | None = None):
        self.base_url = base_url
        self.host = base_url.host
        self.port = base_url.port or 5432
        self._datadir = datadir
        self._runner = runner
        self._admin: sa.Engine | None = None
        self._stopped = False

    @property
    def owned(self) -> bool:
        """True when this process started the server (and so stops it)."""
        return self._datadir is not None

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL (password included) of a database on this server, default the base URL's."""
        url = self.base_url if database is None else self.base_url.set(database=database)
        return url.render_as_string(hide_password=False)

    def _engine(self) -> sa.Engine:
        if self._admin is None:
            self._admin = sa.create_engine(self.base_url, isolation_level="AUTOCOMMIT", pool_size=1)
        return self._admin

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction on the base database (CREATE/DROP DATABASE...)."""
        with self._engine().connect() as conn:
            conn.exec_driver_sql(sql)

    def create_database(self, name: str) -> str:
        """Create an empty database (copy of template0, UTF8) and return its URL."""
        self.execute(f"CREATE DATABASE {_check_name(name)} TEMPLATE template0 ENCODING 'UTF8'")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        self.execute(f"DROP DATABASE IF EXISTS {_check_name(name)} WITH (FORCE)")

    def stop(self) -> None:
        """Close our connections; if we started the server, kill it and delete its directory."""
        if self._stopped:
            return
        self._stopped = True
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None
        if self._datadir is None or self._runner is None:
            return
        try:
            self._runner.run(["pg_ctl", "stop", "-D", str(self._datadir / "data"), "-m", "immediate", "-w"])
        except subprocess.CalledProcessError:
            pass  # already gone; the directory still has to go
        finally:
            shutil.rmtree(self._datadir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        kind = "owned" if self.owned else "external"
        return f"<PostgresServer {kind} {self.url()!r}>"


class _Runner:
    """Runs the server binaries, as the ``postgres`` user when we are root."""

    def __init__(self, bindir: Path, workdir: Path):
        self.bindir = bindir
        self.workdir = workdir
        self.as_root = os.geteuid() == 0
        self.runuser: str | None = None
        self.su: str | None = None
        if self.as_root:
            path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin:/usr/bin:/bin"
            self.runuser = shutil.which("runuser", path=path)
            self.su = None if self.runuser else shutil.which("su", path=path)
            if not (self.runuser or self.su):
                raise RuntimeError("running as root, but neither runuser nor su is available")

    def command(self, argv: list[str]) -> list[str]:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.runuser:
            return [self.runuser, "-u", SERVER_USER, "--", *command]
        if self.su:
            return [self.su, SERVER_USER, "-s", "/bin/sh", "-c", f"exec {shlex.join(command)}"]
        return command

    def run(self, argv: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = self.command(argv)
        # cwd: the postgres user cannot enter root's home; LC_ALL: no locale warnings from initdb.
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        for var in ("PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE", "PGOPTIONS"):
            env.pop(var, None)
        result = subprocess.run(
            command, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, command, result.stdout, result.stderr)
        return result


def _parent_dir() -> str:
    try:
        shm = os.statvfs(_SHM)
        if shm.f_bavail * shm.f_frsize >= _SHM_MIN_FREE and os.access(_SHM, os.W_OK | os.X_OK):
            return _SHM
    except OSError:
        pass
    # The unix socket path must stay under ~107 bytes: keep the directory short (/tmp when $TMPDIR is long).
    parent = tempfile.gettempdir()
    return parent if len(parent) <= 60 else "/tmp"


def _prepare_workdir(as_root: bool) -> Path:
    parent = _parent_dir()
    workdir = Path(tempfile.mkdtemp(prefix="spanlog-pg-", dir=parent))
    if as_root:
        try:
            shutil.chown(workdir, user=SERVER_USER, group=SERVER_USER)
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"running as root, but cannot hand {workdir} to user {SERVER_USER!r}: {exc}")
    return workdir


def _log_tail(workdir: Path, lines: int = 30) -> str:
    log = workdir / "server.log"
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _wait_accepting(url: URL, deadline: float) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 5})
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        engine.dispose()


def _start_local(bindir: Path, *, timeout: float = 60) -> PostgresServer:
    runner = _Runner(bindir, Path("/"))
    workdir = _prepare_workdir(runner.as_root)
    runner.workdir = workdir
    datadir = workdir / "data"
    try:
        runner.run(
            [
                "initdb",
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--auth-local=trust",
                "--auth-host=trust",
                "--no-sync",
            ]
        )
        last_error: Exception | None = None
        for _attempt in range(3):  # the free port can be taken between picking and binding it
            port = _free_port()
            options = {
                "listen_addresses": "127.0.0.1",
                "port": str(port),
                "unix_socket_directories": str(workdir),
                **_FAST_SETTINGS,
            }
            opts = " ".join(f"-c {shlex.quote(f'{key}={value}')}" for key, value in options.items())
            try:
                log = str(workdir / "server.log")
                wait = ["-w", "-t", str(int(timeout))]
                runner.run(
                    ["pg_ctl", "start", "-D", str(datadir), "-l", log, *wait, "-o", opts],
                    timeout=timeout + 10,
                )
            except subprocess.CalledProcessError as exc:
                last_error = exc
                continue
            url = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=port)
            _wait_accepting(url.set(database="postgres"), time.monotonic() + timeout)
            return PostgresServer(url.set(database="postgres"), datadir=workdir, runner=runner)
        assert last_error is not None
        raise last_error
    except BaseException as exc:
        detail = ""
        if isinstance(exc, subprocess.CalledProcessError):
            detail = f"\n{exc.stdout or ''}{exc.stderr or ''}\n-- server log:\n{_log_tail(workdir)}"
        try:
            runner.run(["pg_ctl", "stop", "-D", str(datadir), "-m", "immediate"], timeout=30)
        except Exception:
            pass
        shutil.rmtree(workdir, ignore_errors=True)
        if detail:
            raise RuntimeError(f"could not start a PostgreSQL server from {bindir}: {exc}{detail}") from exc
        raise


def start() -> PostgresServer:
    """A running server: the one of ``SPANLOG_TEST_POSTGRES_URI``, else a fresh local one (see module doc)."""
    uri = os.environ.get(URI_ENV)
    if uri:
        url = make_url(uri)
        if url.get_backend_name() != "postgresql":
            raise ValueError(f"{URI_ENV} must be a postgresql SQLAlchemy URL, got {uri!r}")
        server = PostgresServer(url)
        _wait_accepting(url, time.monotonic() + 10)
        return server
    server = _start_local(find_bindir())
    atexit.register(server.stop)  # in case the session ends without its teardown
    return server
