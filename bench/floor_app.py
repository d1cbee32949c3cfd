"""The API phase's floor: a bare ASGI app that answers every request with one stored report's bytes.

`python -m bench.floor_app --port P --response FILE` serves, in its own process and with the
uvicorn settings of `python -m service serve` (same host, default loop and HTTP implementation,
no access log), the status, headers and body the service sent for a stored report (FILE, written
by the API phase). Nothing is done per request but sending those bytes, so its requests/s and
latency are what this machine, this server and this load client allow: the API figures are
ratios to it.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

# service.cli.serve's uvicorn.run arguments besides the app, host and port.
SERVE_SETTINGS: dict[str, Any] = {
    "log_level": "info",
    "access_log": False,
    "log_config": None,
    "timeout_graceful_shutdown": 10,
}
# Added by the server itself (date, server) or set from the body here (content-length).
SERVER_HEADERS = frozenset({"date", "server", "content-length"})


def save_response(path: Path, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    """What the floor answers: a response as received, body bytes as sent (encoded)."""
    kept = [[name, value] for name, value in headers if name.lower() not in SERVER_HEADERS]
    path.write_text(json.dumps({"status": status, "headers": kept, "body": base64.b64encode(body).decode()}))


def make_app(status: int, headers: list[tuple[str, str]], body: bytes) -> ASGIApp:
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-length", b"%d" % len(body))]
        + [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
    }
    message = {"type": "http.response.body", "body": body}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send(start)
        await send(message)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response", type=Path, required=True, help="JSON written by save_response")
    args = parser.parse_args()
    saved = json.loads(args.response.read_text())
    app = make_app(saved["status"], [tuple(h) for h in saved["headers"]], base64.b64decode(saved["body"]))
    uvicorn.run(app, host=args.host, port=args.port, **SERVE_SETTINGS)


if __name__ == "__main__":
    main()
