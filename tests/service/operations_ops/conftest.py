"""Real processes for the operations tests: the CLI, `python -m service serve`, and demo data."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.core.config import PROJECT_ROOT

ADMIN_KEY = "ops-admin-key"
DEMO_ORGS = 2
DEMO_DAYS = 120  # 240 organization-days: the report phase of a backfill lasts a few hundred ms


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI or service process on its own warehouse, store and dbt target."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "API_KEY", "ORG_ID"))}
    env.update(
        CHDB_PATH=str(tmp / "warehouse"),
        REPORTS_STORE_URL=f"sqlite:///{tmp / 'reports.db'}",
        DBT_TARGET_PATH=str(tmp / "dbt-target"),
        SCHEDULER_ENABLED="false",
        LOG_FORMAT="text",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line_error(result: subprocess.CompletedProcess, phrase: str) -> None:
    """A failed command: exit 1, one readable line on stderr containing `phrase`, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert phrase in result.stderr, result.stderr


def store_path(env: dict[str, str]) -> Path:
    return Path(env["REPORTS_STORE_URL"].removeprefix("sqlite:///"))


def read_store(env: dict[str, str], sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the store file directly (read-only), as another process would while the service runs."""
    uri = f"{store_path(env).as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


@dataclass
class Service:
    """`python -m service serve` in a subprocess, its output in a log file."""

    process: subprocess.Popen
    url: str
    log_path: Path

    @classmethod
    def start(cls, env: dict[str, str], log_path: Path) -> Service:
        port = free_port()
        with log_path.open("a") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        service = cls(process, f"http://127.0.0.1:{port}", log_path)
        service.wait_healthy()
        return service

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"the service exited: {self.log()[-3000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the service did not become healthy: {self.log()[-3000:]}"
            time.sleep(0.3)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=120, **kwargs)

    def job(self, job_id: int) -> dict[str, Any]:
        response = self.request("GET", f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_job(self, job_id: int, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (job := self.job(job_id))["status"] == "running":
            assert time.monotonic() < deadline, f"job {job_id} still running: {job}"
            time.sleep(0.3)
        return job

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait (SIGKILL if it hangs, failing the caller's check of the exit code)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
            raise

    def assert_clean_exit(self, code: int) -> None:
        """Exited after a graceful shutdown (uvicorn re-raises the SIGTERM it handled: exit status -15)."""
        assert code in (0, -signal.SIGTERM), f"exit status {code}: {self.log()[-3000:]}"
        assert "Application shutdown complete" in self.log(), self.log()[-3000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


@pytest.fixture(scope="package")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with demo calls of DEMO_ORGS organizations over DEMO_DAYS days ending yesterday, and a
    store (`reports.db` beside it) holding those organizations and nothing else."""
    base = tmp_path_factory.mktemp("ops-demo")
    demo = run_cli(
        cli_env(base),
        "demo-data",
        "--orgs",
        str(DEMO_ORGS),
        "--days",
        str(DEMO_DAYS),
        "--calls-per-day",
        "40",
        "--seed",
        "11",
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    return base


def service_env(demo: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """A service environment on the shared demo warehouse (one service at a time) and a copy of its store."""
    shutil.copyfile(demo / "reports.db", tmp / "reports.db")
    env = cli_env(tmp, API_KEY=ADMIN_KEY, **extra)
    env["CHDB_PATH"] = str(demo / "warehouse")
    return env
