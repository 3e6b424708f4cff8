"""The processes under test and read access to their database.

sqlite mode: one `cofferd` (in-process worker, embedded S3 server) over a fresh data
directory. postgres mode: a fresh database on the local PostgreSQL, the Garage node
that `.ci/garage.sh start` exported (COFFER_TEST_S3_*), two `cofferd` replicas and two
`coffer-worker` processes. Processes are killed with SIGKILL and restarted on the same
ports; everything lives under one temporary directory, logs included.
"""

import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

from client import ConnError, send

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
ADMIN_USERNAME = "chaosadmin"
ADMIN_PASSWORD = "chaos admin passphrase " + secrets.token_hex(8)
HEALTH_TIMEOUT_SECONDS = 60
# Connection errors this long after a restart still count as caused by the kill.
KILL_GRACE_SECONDS = 1.0

# Small quotas so that quota edges are hit often; short expiries and fast polling so that
# reconciliation happens within a round; rate limits out of the way.
SETTINGS = {
    "COFFER_ENV": "development",
    "COFFER_HOST": "127.0.0.1",
    "COFFER_JWT_SECRET": "chaos-harness-fixed-jwt-secret-0123456789",
    "COFFER_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
    "COFFER_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "COFFER_LOG": "info",
    "COFFER_LOG_FORMAT": "json",
    "COFFER_ACCESS_TOKEN_TTL_SECONDS": "600",
    "COFFER_MAX_CONCURRENT_HASHES": "8",
    "COFFER_DEFAULT_QUOTA_BYTES": "300000",
    "COFFER_DEFAULT_QUOTA_OBJECTS": "40",
    "COFFER_PRESIGN_TTL_SECONDS": "120",
    "COFFER_UPLOAD_EXPIRY_SECONDS": "15",
    "COFFER_WORKER_POLL_MS": "100",
    "COFFER_WORKER_LEASE_SECONDS": "3",
    "COFFER_TASK_BACKOFF_MS": "500",
    "COFFER_RECONCILE_INTERVAL_SECONDS": "1",
    "COFFER_WORKER_SHUTDOWN_GRACE_SECONDS": "1",
    **{
        f"COFFER_RATE_LIMIT_{limit}_{kind}": "1000000"
        for limit in ("AUTH", "USER", "PUBLIC", "LINK_PASSWORD")
        for kind in ("PER_MINUTE", "BURST")
    },
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    """Runs SQL with the psql CLI; rows as tuples of strings (NULL is '')."""
    out = subprocess.run(
        ["psql", url, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, check=True,
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]


class SqliteDb:
    EXPIRED_OPEN_UPLOADS = (
        "SELECT count(*) FROM uploads WHERE state = 'open' "
        "AND julianday(expires_at) < julianday('now')"
    )

    def __init__(self, path):
        self.path = path

    def rows(self, sql):
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)) as c:
            return [tuple(str(v) for v in row) for row in c.execute(sql)]


class PostgresDb:
    EXPIRED_OPEN_UPLOADS = (
        "SELECT count(*) FROM uploads WHERE state = 'open' AND expires_at < now()"
    )

    def __init__(self, url):
        self.url = url

    def rows(self, sql):
        return psql(self.url, sql)


class Proc:
    """One process of the cluster; `port` is set for cofferd (health-checked on start)."""

    def __init__(self, name, argv, env, workdir, port=None):
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.popen = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        if self.port:
            self._wait_healthy()

    def _wait_healthy(self):
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"{self.name} exited at start-up; see {self.log_path}")
            try:
                if send("GET", f"http://127.0.0.1:{self.port}/healthz").status == 200:
                    return
            except ConnError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy after {HEALTH_TIMEOUT_SECONDS}s")

    def kill(self):
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self):
        if self.popen is None or self.exited():
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def exited(self):
        return self.popen.poll() is not None


class Cluster:
    def __init__(self, mode, bin_dir):
        self.mode = mode
        self.bin_dir = Path(bin_dir).resolve()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"coffer-chaos-{mode}."))
        self.procs = []
        self.kills = Counter()
        self.database = None
        self.env = None
        self.db = None
        self._killing = False
        self._kill_window_until = 0.0

    # --- life cycle ----------------------------------------------------------------

    def start(self):
        if self.mode == "sqlite":
            self._start_sqlite()
        else:
            self._start_postgres()
        for proc in self.procs:
            proc.start()

    def _base_env(self, **extra):
        keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        return {**keep, **SETTINGS, "COFFER_DATA_DIR": str(self.workdir / "data"), **extra}

    def _start_sqlite(self):
        data = self.workdir / "data"
        self.env = self._base_env(
            DATABASE_URL=f"sqlite://{data}/coffer.db?mode=rwc",
            # A fixed port (not 0), so that check-storage and restarts find the same server.
            COFFER_EMBEDDED_S3_PORT=str(free_port()),
            COFFER_WORKER_IN_PROCESS="true",
        )
        self.db = SqliteDb(data / "coffer.db")
        self.procs = [self._cofferd(0)]

    def _start_postgres(self):
        self.database = f"coffer_chaos_{secrets.token_hex(6)}"
        psql(f"{PG_SERVER}/postgres", f'CREATE DATABASE "{self.database}"')
        url = f"{PG_SERVER}/{self.database}"
        s3 = {
            f"COFFER_S3_{key}": os.environ[f"COFFER_TEST_S3_{key}"]
            for key in ("ENDPOINT", "REGION", "BUCKET", "ACCESS_KEY", "SECRET_KEY")
        }
        self.env = self._base_env(
            DATABASE_URL=url, COFFER_S3_PATH_STYLE="true", COFFER_WORKER_IN_PROCESS="false", **s3
        )
        self.db = PostgresDb(url)
        code, out = self.cli("migrate")
        if code != 0:
            raise RuntimeError(f"cofferd migrate failed:\n{out}")
        # Replica 0 starts (and creates the admin) before replica 1.
        self.procs = [self._cofferd(0), self._cofferd(1), self._worker(0), self._worker(1)]

    def _cofferd(self, n):
        port = free_port()
        env = {**self.env, "COFFER_PORT": str(port)}
        return Proc(f"cofferd-{n}", [str(self.bin_dir / "cofferd")], env, self.workdir, port)

    def _worker(self, n):
        argv = [str(self.bin_dir / "coffer-worker")]
        return Proc(f"coffer-worker-{n}", argv, self.env, self.workdir)

    def stop(self, keep_files):
        for proc in self.procs:
            proc.stop()
        if self.database:
            psql(f"{PG_SERVER}/postgres", f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if not keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- chaos ---------------------------------------------------------------------

    def kill_and_restart(self, rng):
        """SIGKILLs one cofferd (and in postgres mode one coffer-worker), restarts them
        on the same ports; returns the names of the killed processes."""
        victims = [rng.choice(self.cofferds())]
        workers = [p for p in self.procs if p.port is None]
        if workers:
            victims.append(rng.choice(workers))
        self._killing = True
        try:
            for proc in victims:
                proc.kill()
                self.kills[proc.name] += 1
            time.sleep(0.5)
            for proc in victims:
                proc.start()
        finally:
            self._kill_window_until = time.monotonic() + KILL_GRACE_SECONDS
            self._killing = False
        return [p.name for p in victims]

    def in_kill_window(self):
        return self._killing or time.monotonic() < self._kill_window_until

    # --- inspection ----------------------------------------------------------------

    def cofferds(self):
        return [p for p in self.procs if p.port is not None]

    def api_urls(self):
        return [f"http://127.0.0.1:{p.port}" for p in self.cofferds()]

    def exited(self):
        """Processes that died without being killed by the harness."""
        return [p.name for p in self.procs if p.exited()]

    def cli(self, *args):
        """Runs `cofferd <args>` with the servers' settings: (exit status, output)."""
        done = subprocess.run(
            [str(self.bin_dir / "cofferd"), *args], env=self.env, cwd=self.workdir,
            capture_output=True, text=True, timeout=300,
        )
        return done.returncode, done.stdout + done.stderr

    def log_lines(self, needle):
        lines = []
        for proc in self.procs:
            with open(proc.log_path, errors="replace") as log:
                lines += [f"{proc.name}: {line.rstrip()}" for line in log if needle in line]
        return lines
