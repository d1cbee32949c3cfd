"""A real service on a loopback port, serving the session warehouse, for the API tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from service.api.app import create_app
from service.core.config import Settings

API_KEY = "test-admin-key"


@dataclass
class RunningService:
    url: str
    settings: Settings
    server: uvicorn.Server

    def client(self, *, admin: bool = False, token: str | None = None) -> httpx.Client:
        """A client with API_KEY (`admin`), with an access `token`, or with no credentials."""
        secret = API_KEY if admin else token
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serve() -> Iterator:
    """Start services; each stops when the module is done."""
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(settings: Settings, *, wait_healthy: bool = True) -> RunningService:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(settings, url=url), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started.append((server, thread))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{url}/health", timeout=5)
                if not wait_healthy or response.status_code == 200:
                    return RunningService(url, settings, server)
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"service at {url} did not become healthy")

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(30)
