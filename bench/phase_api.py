"""Phase 4: the API under load on loopback, served by a separate `python -m service serve`.

This process never opens the warehouse: the server owns it. An asyncio client keeps
`concurrency` requests in flight (one keep-alive connection each) over a fixed number of requests per endpoint, spread over every
organization and the load dates. Each connection reads as a tenant's dashboard does, with a reader
token of its own (created through the admin API), so every request pays token verification and no
connection meets the per-token live query cap. Figures: requests/s, p50 and p99 latency. The server's memory
(VmRSS sampled, VmHWM at the end) covers the whole phase, start-up refresh and one mart refresh
(POST /api/admin/dbt) included. The live report is measured warm (its result cache filled by a
first pass over every organization-date, reported separately as the cold pass); the refresh must
then invalidate it.

The floor: `bench.floor_app`, a bare ASGI app that sends the bytes and headers the service sent
for a stored report, started like the service (own process, same host and uvicorn settings) and
loaded with the same requests by the same client in the same run, in slices alternating with the
stored and the warm live report. Every API figure is read as a ratio to it; /health is still
measured, for information.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from bench.common import BenchConfig, percentile, proc_status, read_phase, write_phase
from bench.floor_app import save_response

ENDPOINTS = ("floor", "health", "stored_report", "reports_list", "live_report")
INTERLEAVED = ("floor", "stored_report", "live_report")
SLICES = 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MemoryWatch(threading.Thread):
    """Samples a process's VmRSS until stopped; VmHWM is read at the end."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.interval = pid, interval
        self.max_rss_kb = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            rss = proc_status(self.pid).get("VmRSS", 0)
            self.max_rss_kb = max(self.max_rss_kb, rss)
            self.stop_event.wait(self.interval)


class LoopbackClient:
    """One keep-alive HTTP/1.1 connection, stdlib asyncio only.

    The load generator shares a 2-core machine with the server, so it must cost next to nothing:
    this client spends about 0.05 ms of CPU per request where httpx's async client spends 1 to 3 ms
    (measured on this machine; that caps httpx at a few hundred requests/s, below the server), so
    httpx only drives the control requests of this phase. It sends what httpx would
    (Accept-Encoding: gzip) and reads bodies by Content-Length or chunked encoding.
    """

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: */*\r\n{self.auth}"
            "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
            body = bytes(body)
        else:
            body = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class Load:
    """What a load run saw: each request's latency and status, wall and client CPU seconds."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wall: float = 0.0
    client_cpu: float = 0.0

    def __add__(self, other: Load) -> Load:
        return Load(
            self.latencies + other.latencies,
            self.statuses + other.statuses,
            self.wall + other.wall,
            self.client_cpu + other.client_cpu,
        )

    def figures(self) -> dict[str, Any]:
        latencies, wall = self.latencies, self.wall
        return {
            "requests": len(latencies),
            "errors": len(latencies) - self.statuses.get(200, 0),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "seconds": round(wall, 3),
            "rps": round(len(latencies) / wall, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "mean_ms": round(sum(latencies) / len(latencies) * 1000, 2),
            "max_ms": round(max(latencies) * 1000, 2),
            "client_cpu_share": round(self.client_cpu / wall, 3),
        }


async def drive(base_url: str, paths: list[str], concurrency: int, tokens: list[str]) -> Load:
    """Send `paths` with `concurrency` requests in flight (connection i reads with tokens[i]);
    latency of each, throughput overall."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    pending = iter(paths)
    clients = [LoopbackClient(host, int(port), tokens[i % len(tokens)]) for i in range(concurrency)]

    async def worker(client: LoopbackClient) -> None:
        for path in pending:
            started = time.perf_counter()
            status, _ = await client.get(path)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    cpu_before = time.process_time()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(client) for client in clients))
    finally:
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_before
        for client in clients:
            await client.close()
    return Load(latencies, statuses, wall, client_cpu)


def _start(args: list[str], cfg: BenchConfig, log_name: str, **env: str) -> subprocess.Popen:
    """`python -m ...args` in the bench's work directory and environment, its output in a log."""
    log = cfg.log(log_name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            env=cfg.environment(**env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=cfg.work_dir,
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _start_floor(
    cfg: BenchConfig, url: str, path: str, reader: dict[str, str]
) -> tuple[subprocess.Popen, str]:
    """The floor app on its own port, answering what the service answered to `path` (as the load
    client asks: gzip accepted)."""
    headers = reader | {"Accept-Encoding": "gzip, deflate"}
    with httpx.stream("GET", url + path, headers=headers, timeout=120) as response:
        body = b"".join(response.raise_for_status().iter_raw())  # as sent: gzip-encoded
    saved = cfg.work_dir / "floor_response.json"
    save_response(saved, response.status_code, list(response.headers.items()), body)
    port = free_port()
    process = _start(
        ["bench.floor_app", "--host", "127.0.0.1", "--port", str(port), "--response", str(saved)],
        cfg,
        "floor",
    )
    floor_url = f"http://127.0.0.1:{port}"
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the floor app exited with {process.returncode}; see {cfg.log('floor')}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(floor_url + path, timeout=5).status_code == response.status_code:
                return process, floor_url
        time.sleep(0.1)
    _stop(process)
    raise SystemExit("the floor app did not answer within 60s")


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with {process.returncode} before it was healthy")
        try:
            response = httpx.get(f"{url}/health", timeout=10)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return time.perf_counter() - started
        if response is not None and response.json().get("models", "building") != "building":
            raise SystemExit(f"the service failed to start: {response.json()['models']}")
        time.sleep(0.2)
    raise SystemExit(f"the service at {url} was not healthy within {timeout:.0f}s")


def _paths(kind: str, pairs: list[tuple[str, date]], count: int) -> list[str]:
    def path(org_id: str, day: date) -> str:
        if kind == "health":
            return "/health"
        if kind == "stored_report":
            return f"/api/reports/{day.isoformat()}?org_id={org_id}"
        if kind == "reports_list":
            return f"/api/reports?org_id={org_id}"
        return f"/daily-report?org_id={org_id}&date={day.isoformat()}"

    return [path(*pairs[i % len(pairs)]) for i in range(count)]


def main() -> None:
    cfg = BenchConfig.from_env()
    incremental = read_phase(cfg, "incremental")
    first = date.fromisoformat(incremental["load_first_date"])
    last = date.fromisoformat(incremental["load_last_date"])
    dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api_key = secrets.token_urlsafe(24)
    process = _start(
        ["service", "serve", "--host", "127.0.0.1", "--port", str(port)], cfg, "service", API_KEY=api_key
    )
    floor: subprocess.Popen | None = None
    memory = MemoryWatch(process.pid)
    memory.start()
    results: dict[str, Any] = {}
    try:
        results["service_start_seconds"] = round(_wait_healthy(url, process, timeout=1800), 3)
        print(f"[bench] service healthy after {results['service_start_seconds']}s", flush=True)
        admin = {"Authorization": f"Bearer {api_key}"}
        listed = httpx.get(f"{url}/api/orgs", headers=admin, timeout=30).raise_for_status().json()
        org_ids = sorted(org["org_id"] for org in listed)
        pairs = [(org_id, day) for org_id in org_ids for day in dates]
        random.Random(cfg.seed).shuffle(pairs)
        results["load_keys"] = len(pairs)
        tokens = _reader_tokens(url, admin, org_ids, cfg.concurrency)
        results["reader_tokens"] = len(tokens)
        reader = {"Authorization": f"Bearer {tokens[0]}"}

        def drive_one(kind: str, count: int) -> Load:
            # The floor gets the stored-report requests, token header included, on its own port.
            target, paths = (floor_url, "stored_report") if kind == "floor" else (url, kind)
            return asyncio.run(drive(target, _paths(paths, pairs, count), cfg.concurrency, tokens))

        def load(kind: str, count: int) -> dict[str, Any]:
            return drive_one(kind, count).figures()

        results["responses_checked"] = _check_responses(url, reader, pairs[:3])
        floor, floor_url = _start_floor(cfg, url, _paths("stored_report", pairs, 1)[0], reader)
        # Connections and first-use costs (the stored reads: every organization-date once, as a
        # dashboard's first look renders and caches them).
        for kind in ("floor", "health", "stored_report", "reports_list"):
            load(kind, max(cfg.concurrency * 4, len(pairs) if kind == "stored_report" else 0))
        for kind in ("health", "reports_list"):
            results[kind] = load(kind, cfg.requests)
            _say(kind, results[kind])
        # Live: a first pass over every organization-date fills the result cache (each one a miss).
        results["live_report_cold"] = load("live_report", len(pairs))
        _say("live_report_cold", results["live_report_cold"])
        # The floor and the figures read as ratios to it, in alternating slices: the other work on a
        # shared machine then weighs on all three alike.
        # Each round starts with another one of them, so none always follows the same one.
        sliced = {kind: Load() for kind in INTERLEAVED}
        for round_number in range(SLICES):
            for position in range(len(INTERLEAVED)):
                kind = INTERLEAVED[(round_number + position) % len(INTERLEAVED)]
                sliced[kind] += drive_one(kind, max(1, cfg.ratio_requests // SLICES))
        for kind in INTERLEAVED:
            results[kind] = sliced[kind].figures()
            _say(kind, results[kind])
        _stop(floor)

        # One mart refresh inside the server: the load dates of every organization.
        probe = f"/daily-report?org_id={pairs[0][0]}&date={pairs[0][1].isoformat()}"
        before = httpx.get(f"{url}{probe}", headers=reader, timeout=60).headers.get("X-Data-Refreshed-At")
        window = {"refresh_start_date": first.isoformat(), "refresh_end_date": last.isoformat()}
        started = time.perf_counter()
        response = httpx.post(
            f"{url}/api/admin/dbt",
            json={"args": ["run", "--vars", json.dumps(window)]},
            headers=admin,
            timeout=3600,
        )
        results["refresh_in_service_seconds"] = round(time.perf_counter() - started, 3)
        refresh = response.json() if response.status_code == 200 else {"success": False}
        results["refresh_in_service_ok"] = bool(refresh.get("success"))
        after = httpx.get(f"{url}{probe}", headers=reader, timeout=60).headers.get("X-Data-Refreshed-At")
        results["live_cache_invalidated_by_refresh"] = bool(before and after and after > before)
        print(f"[bench] refresh in the service: {results['refresh_in_service_seconds']}s", flush=True)
        status = proc_status(process.pid)
        results["peak_rss_mb"] = round(status.get("VmHWM", 0) / 1024, 1)
        results["final_rss_mb"] = round(status.get("VmRSS", 0) / 1024, 1)
    finally:
        memory.stop_event.set()
        memory.join(5)
        _stop(process)
        if floor is not None:
            _stop(floor)
    results["sampled_max_rss_mb"] = round(memory.max_rss_kb / 1024, 1)
    results["concurrency"] = cfg.concurrency
    results["requests_per_endpoint"] = cfg.requests
    results["ratio_requests_per_endpoint"] = cfg.ratio_requests
    write_phase(cfg, "api", results)


def _reader_tokens(url: str, admin: dict[str, str], org_ids: list[str], count: int) -> list[str]:
    """`count` reader tokens of every organization, one per load connection (tenant dashboards)."""
    tokens = []
    for index in range(count):
        created = httpx.post(
            f"{url}/api/tokens",
            json={"name": f"bench dashboard {index}", "org_ids": org_ids},
            headers=admin,
            timeout=30,
        )
        tokens.append(created.raise_for_status().json()["token"])
    return tokens


def _check_responses(url: str, reader: dict[str, str], pairs: list[tuple[str, date]]) -> int:
    """The loaded endpoints answer what they should (the load itself only looks at status codes)."""
    checked = 0
    for org_id, day in pairs:
        for kind in ("stored_report", "live_report"):
            path = _paths(kind, [(org_id, day)], 1)[0]
            body = httpx.get(url + path, headers=reader, timeout=120).raise_for_status().json()
            if body["metadata"]["org_id"] != org_id or "total_calls" not in body["kpis"]:
                raise SystemExit(f"{kind} of {org_id} on {day} is not a report: {str(body)[:300]}")
            checked += 1
        listing = httpx.get(url + _paths("reports_list", [(org_id, day)], 1)[0], headers=reader, timeout=120)
        if not any(item["report_date"] == day.isoformat() for item in listing.raise_for_status().json()):
            raise SystemExit(f"the reports list of {org_id} misses {day}")
        checked += 1
    return checked


def _say(kind: str, figures: dict[str, Any]) -> None:
    print(
        f"[bench] {kind}: {figures['rps']} req/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"errors {figures['errors']}, client CPU {figures['client_cpu_share']:.0%}",
        flush=True,
    )


if __name__ == "__main__":
    main()
