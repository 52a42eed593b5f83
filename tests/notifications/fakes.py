"""Small real HTTP servers standing in for Slack, Teams and an integration's webhook
receiver: http.server in a thread on 127.0.0.1, port 0. They record what they got
and check what the real services would check (Slack's bearer token, our HMAC)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str) -> str:
        """A parameter from the query string or a form-encoded body."""
        if name in self.query:
            return self.query[name][0]
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return (parse_qs(self.body.decode()).get(name) or [""])[0]
        return ""


@dataclass
class FakeServer:
    """Records every request; ``respond`` decides the answer (status, body)."""

    received: list[Received] = field(default_factory=list)

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parsed = urlparse(self.path)
                got = Received(
                    method=self.command,
                    path=parsed.path,
                    query=parse_qs(parsed.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake.lock:
                    fake.received.append(got)
                status, payload = fake.respond(got)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                ctype = "application/json" if not isinstance(payload, bytes) else "text/plain"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def respond(self, got: Received) -> tuple[int, Any]:
        return 200, b"ok"

    def wait_for(
        self, count: int, timeout: float = 20.0, path: str | None = None
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [r for r in self.received if path is None or r.path == path]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return [r for r in self.received if path is None or r.path == path]


@dataclass
class FakeSlack(FakeServer):
    """The Slack Web API under /api/, an incoming webhook at /hook, and a
    response_url at /response. Knows users by id and email."""

    token: str = "xoxb-test-token"
    users: dict[str, str] = field(default_factory=dict)  # slack id -> email

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def messages(self) -> list[dict[str, Any]]:
        return [r.json for r in self.received if r.path == "/api/chat.postMessage"]

    def respond(self, got: Received) -> tuple[int, Any]:
        if got.path == "/hook" or got.path == "/response":
            return 200, b"ok"
        if got.headers.get("authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if got.path == "/api/chat.postMessage":
            data = got.json
            if not data.get("channel") or not data.get("text"):
                return 200, {"ok": False, "error": "invalid_arguments"}
            return 200, {"ok": True, "channel": data["channel"], "ts": f"{time.time():.6f}"}
        if got.path == "/api/users.lookupByEmail":
            email = got.arg("email")
            for uid, known in self.users.items():
                if known == email:
                    return 200, {"ok": True, "user": {"id": uid}}
            return 200, {"ok": False, "error": "users_not_found"}
        if got.path == "/api/users.info":
            uid = got.arg("user")
            if uid in self.users:
                return 200, {"ok": True, "user": {"id": uid, "profile": {"email": self.users[uid]}}}
            return 200, {"ok": False, "error": "user_not_found"}
        return 404, {"ok": False, "error": "unknown_method"}


@dataclass
class FakeTeams(FakeServer):
    """A Teams incoming webhook: accepts a message with an Adaptive Card attachment."""

    def cards(self) -> list[dict[str, Any]]:
        return [r.json["attachments"][0]["content"] for r in self.received]

    def respond(self, got: Received) -> tuple[int, Any]:
        try:
            data = got.json
            attachment = data["attachments"][0]
            ok = attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        except (ValueError, KeyError, IndexError, TypeError):
            ok = False
        return (200, b"1") if ok else (400, b"Bad payload")


@dataclass
class FakeWebhookReceiver(FakeServer):
    """An integration's endpoint: checks the HMAC-SHA256 signature over timestamp and
    body, refuses stale timestamps, and counts each idempotency key once."""

    secret: str = "whsec-test"
    fail_status: int | None = None  # answer this forever (e.g. 500)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def respond(self, got: Received) -> tuple[int, Any]:
        if self.fail_status:
            return self.fail_status, b"broken"
        ts = got.headers.get("x-approvals-timestamp", "")
        sig = got.headers.get("x-approvals-signature", "")
        expected = "v1=" + hmac.new(
            self.secret.encode(), ts.encode() + b"." + got.body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, sig):
            self.refused.append("bad signature")
            return 401, b"bad signature"
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            self.refused.append("stale timestamp")
            return 401, b"stale"
        key = got.headers.get("idempotency-key", "")
        if key and any(a["_key"] == key for a in self.accepted):
            return 200, b"duplicate ignored"
        self.accepted.append({**got.json, "_key": key})
        return 200, b"ok"


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(
        secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
