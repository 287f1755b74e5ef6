"""A throwaway PostgreSQL server for tests: initdb into a fresh temporary directory, a free
loopback port, one database owned by one password user, its DSN; stop, start, restart (for
database-restart chaos tests) and removal. Without PostgreSQL the caller skips, except under
CI=true, where that fails.

    with running_postgres() as server:      # or inside a pytest fixture
        server.dsn                          # postgresql://alertbridge:…@127.0.0.1:<port>/alertbridge
        server.psql("SELECT 1")             # psql over TCP with that DSN
        server.restart(mode="immediate")    # same port, same DSN afterwards

initdb and postgres refuse to run as root, so as root every server command runs as the
`postgres` OS user (runuser) in a directory chowned to it. The password is random per server and
kept out of reprs and error messages; the role is created through psql's stdin."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from tests.support.launcher import free_port

LOOPBACK = "127.0.0.1"
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
OS_USER = "postgres"  # the account Debian's package creates; used only when we are root
SUPERUSER = "postgres"
COMMAND_TIMEOUT_SECONDS = 60
PG_CTL_WAIT_SECONDS = 30
# A picked port can be taken before the server binds it: pick another this often.
BIND_ATTEMPTS = 3
BIND_FAILURE = re.compile(r"could not bind|address already in use|could not create listen", re.I)
# sun_path holds 108 bytes; the socket is <dir>/.s.PGSQL.<port>.
MAX_SOCKET_PATH = 107
LOG_TAIL_CHARS = 4000
REDACTED = "********"
NOT_INSTALLED = (
    "PostgreSQL is not installed (Debian: apt-get install postgresql; the tests look for "
    "`pg_config --bindir` and /usr/lib/postgresql/*/bin)"
)

ShutdownMode = Literal["smart", "fast", "immediate"]


class PostgresError(RuntimeError):
    """A server command or a psql call failed; the message never holds the password."""


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing(reason: str) -> None:
    """Skip the test for a missing PostgreSQL, except under CI=true, where it fails."""
    import pytest  # here, not at the top: the benchmark (no pytest installed) starts servers too

    if in_ci():
        pytest.fail(f"{reason}; under CI=true PostgreSQL is required", pytrace=False)
    pytest.skip(reason)


# -- finding the binaries -----------------------------------------------------------------------


def has_server_programs(directory: Path) -> bool:
    return all((directory / name).is_file() for name in SERVER_PROGRAMS)


def candidate_bindirs() -> Iterator[Path]:
    """`pg_config --bindir` (on Debian the newest installed server), then Debian's versioned
    directories newest first, then wherever initdb on PATH really lives."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        with suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            yield Path(done.stdout.strip())
    versioned = glob.glob(DEBIAN_BINDIRS)
    yield from sorted(map(Path, versioned), key=lambda p: version_key(p.parent.name), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(initdb).resolve().parent


def version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def find_bindir() -> Path | None:
    return next((d for d in candidate_bindirs() if has_server_programs(d)), None)


def require_bindir() -> Path:
    """The directory of initdb, pg_ctl and postgres; skips (fails under CI=true) without one."""
    bindir = find_bindir()
    if bindir is None:
        missing(NOT_INSTALLED)
        raise AssertionError("unreachable")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            missing(f"running as root needs the OS user {OS_USER!r} to run PostgreSQL as")
        if shutil.which("runuser") is None:
            missing("running as root needs runuser (util-linux) to run PostgreSQL as postgres")
    return bindir


# -- the server ---------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """One initdb'd cluster in `root` (data/, the log and the Unix socket), listening on
    127.0.0.1:`port`. `dsn` reaches `database` as `user` with `password` over TCP."""

    bindir: Path
    root: Path
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    fsync: bool = False
    run_as: str | None = None  # the OS user server commands run as, when we are root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def dsn(self) -> str:
        """postgresql://user:password@127.0.0.1:port/database: holds the password, so pass it
        to what connects, never to a message."""
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"postgresql://{credentials}@{LOOPBACK}:{self.port}/{quote(self.database)}"

    @property
    def redacted_dsn(self) -> str:
        return self.dsn.replace(quote(self.password, safe=""), REDACTED)

    # -- life cycle ------------------------------------------------------------------------

    def initdb(self) -> None:
        self._server_command(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth-local=trust",  # only the OS user owning the socket directory gets there
            "--auth-host=scram-sha-256",  # TCP, i.e. the DSN, needs the password
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\ninclude 'throwaway.conf'\n")
        self._write_settings()

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "on" if self.fsync else "off",
            "log_min_error_statement": "panic",  # a failed statement could hold the password
        }
        path = self.data_dir / "throwaway.conf"
        path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()), encoding="utf-8")
        self._give_to_server_user(path)

    def start(self) -> None:
        """Start and wait until it accepts connections, on another port if `port` was taken."""
        for attempt in range(1, BIND_ATTEMPTS + 1):
            try:
                self._pg_ctl("start", "--log", str(self.log_path))
                return
            except PostgresError:
                if attempt == BIND_ATTEMPTS or not BIND_FAILURE.search(self.log_tail()):
                    raise
                self.port = free_port()
                self._write_settings()

    def stop(self, mode: ShutdownMode = "fast") -> None:
        self._pg_ctl("stop", "--mode", mode)

    def restart(self, mode: ShutdownMode = "fast") -> None:
        """Stop (mode `immediate` is a crash: recovery runs at start) and start again on the
        same port, so `dsn` stays valid."""
        self._pg_ctl("restart", "--mode", mode, "--log", str(self.log_path))

    def is_running(self) -> bool:
        done = self._run(self._as_server_user([str(self.bindir / "pg_ctl"), "status", *self._d]))
        return done.returncode == 0

    def remove(self) -> None:
        """Stop the server however it can be stopped, and delete its directory."""
        try:
            if self.is_running():
                self.stop(mode="immediate")
        except (PostgresError, OSError, subprocess.SubprocessError):
            self._kill_postmaster()
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.remove)

    def _kill_postmaster(self) -> None:
        """The last resort when pg_ctl could not stop it: SIGKILL the pid in postmaster.pid, if
        that process is still this cluster's postmaster (a stale file may name a reused pid)."""
        with suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(self.data_dir).encode() in command:
                os.kill(pid, signal.SIGKILL)

    # -- setting up the database -----------------------------------------------------------

    def create_database(self) -> None:
        """Role `user` with `password` and database `database` owned by it, as the superuser
        over the Unix socket. The SQL goes through stdin, not argv."""
        password = self.password.replace("'", "''")
        sql = (
            f"CREATE ROLE {quote_ident(self.user)} LOGIN PASSWORD '{password}';\n"
            f"CREATE DATABASE {quote_ident(self.database)} OWNER {quote_ident(self.user)};\n"
        )
        self.psql_as_superuser(sql, database="postgres")

    # -- queries ---------------------------------------------------------------------------

    def psql(self, sql: str, *, dsn: str | None = None) -> str:
        """Run `sql` with psql over TCP, by default as `user` with the password DSN; the
        unaligned, tuples-only output (columns joined by |, one row a line)."""
        return self._psql(["--dbname", dsn or self.dsn], stdin=sql)

    def psql_as_superuser(self, sql: str, *, database: str | None = None) -> str:
        """Run `sql` as the superuser over the Unix socket (trust): for what a test does behind
        the application's back, e.g. pg_terminate_backend() or reading server settings."""
        connection = ["--host", str(self.socket_dir), "--port", str(self.port)]
        connection += ["--username", SUPERUSER, "--dbname", database or self.database]
        return self._psql(connection, stdin=sql)

    def _psql(self, connection: Sequence[str], *, stdin: str) -> str:
        argv = [
            str(self.psql_path),
            "--no-psqlrc",
            "--no-align",
            "--tuples-only",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            *connection,
        ]
        done = self._run(argv, stdin=stdin, env=client_environment())
        if done.returncode != 0:
            raise PostgresError(self.redact(f"psql failed (exit {done.returncode}): {done.stderr}"))
        return done.stdout

    @property
    def psql_path(self) -> Path:
        bundled = self.bindir / "psql"
        return bundled if bundled.is_file() else Path(shutil.which("psql") or bundled)

    # -- plumbing --------------------------------------------------------------------------

    @property
    def _d(self) -> list[str]:
        return ["--pgdata", str(self.data_dir)]

    def _pg_ctl(self, action: str, *options: str) -> None:
        wait = ["--wait", f"--timeout={PG_CTL_WAIT_SECONDS}"]
        self._server_command("pg_ctl", action, *self._d, *wait, *options)

    def _server_command(self, program: str, *args: str) -> None:
        done = self._run(self._as_server_user([str(self.bindir / program), *args]))
        if done.returncode != 0:
            output = f"{done.stdout}{done.stderr}\n--- server log ---\n{self.log_tail()}"
            raise PostgresError(self.redact(f"{program} {args[0]} failed:\n{output}"))

    def _as_server_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else argv

    def _run(
        self, argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
            cwd=self.root,
            env=env,
        )

    def _give_to_server_user(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def redact(self, text: str) -> str:
        for secret in {self.password, quote(self.password, safe="")}:
            text = text.replace(secret, REDACTED)
        return text


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def client_environment() -> dict[str, str]:
    """The environment without libpq's PG* variables, so nothing but the arguments decides
    where psql connects and as whom."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def start_postgres(
    *,
    database: str = "alertbridge",
    user: str = "alertbridge",
    fsync: bool = False,
    parent: Path | None = None,
) -> PostgresServer:
    """A running server with `database` owned by `user`; call `remove()` when done (or use
    running_postgres()). Skips (fails under CI=true) when PostgreSQL is not installed."""
    bindir = require_bindir()
    root = Path(tempfile.mkdtemp(prefix="pg-", dir=parent))
    run_as = OS_USER if os.geteuid() == 0 else None
    server = PostgresServer(
        bindir=bindir,
        root=root,
        port=free_port(),
        database=database,
        user=user,
        password=secrets.token_urlsafe(24),
        fsync=fsync,
        run_as=run_as,
    )
    atexit.register(server.remove)  # a test run that dies does not leave a postmaster behind
    try:
        if len(f"{server.socket_dir}/.s.PGSQL.65535") > MAX_SOCKET_PATH:
            raise PostgresError(f"{root} is too long for a Unix socket path: pass a shorter parent")
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server.initdb()
        server.start()
        server.create_database()
    except BaseException:
        server.remove()
        raise
    return server


@contextmanager
def running_postgres(
    *,
    database: str = "alertbridge",
    user: str = "alertbridge",
    fsync: bool = False,
    parent: Path | None = None,
) -> Iterator[PostgresServer]:
    """start_postgres() for a `with` block or a yield fixture; removed afterwards."""
    server = start_postgres(database=database, user=user, fsync=fsync, parent=parent)
    try:
        yield server
    finally:
        server.remove()


def scratch_dsn(server: PostgresServer) -> str:
    """The DSN of a new, empty schema of the server's database (search_path): a test's own
    tables, without a database or a server of its own."""
    name = f"t_{secrets.token_hex(6)}"
    server.psql(f"CREATE SCHEMA {name}")
    return f"{server.dsn}?options=-csearch_path%3D{name}"
