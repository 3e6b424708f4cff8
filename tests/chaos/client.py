"""HTTP for the chaos harness, and the tally of what was asked and answered.

Every request goes on a fresh connection (no keep-alive), so a connection error always
means the server was unreachable or dropped that very request, never a stale socket.
The tally counts requests by kind and status, keeps the 5xx answers (with the request
id the harness sent, to find them in the server logs), connection errors (expected
while a process is being killed, failures otherwise) and download mismatches.
"""

import http.client
import itertools
import json
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

TIMEOUT_SECONDS = 60
CONN_ERROR = "conn-error"
CONN_ERROR_PAUSE_SECONDS = 0.5
# A store's 503 (S3's ServiceUnavailable/SlowDown) asks the client to retry, and every
# S3 client does: Garage answers one now and then under load ("could not reach quorum"
# on a single node). Presigned requests are retried this many times before a 503
# counts as a failure; each retried answer is tallied as "503-retried".
STORE_RETRIES = 4
STORE_RETRY_PAUSE_SECONDS = 0.25


class ConnError(Exception):
    """The request got no HTTP answer."""


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body) if self.body else None


def send(method, url, headers=None, body=None):
    """One request on its own connection; raises ConnError when nothing was answered."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_SECONDS)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        answer = conn.getresponse()
        headers = {k.lower(): v for k, v in answer.getheaders()}
        return Response(answer.status, headers, answer.read())
    except (OSError, http.client.HTTPException) as e:
        raise ConnError(f"{type(e).__name__}: {e}") from e
    finally:
        conn.close()


@dataclass
class RoundTally:
    """What one round asked and got."""

    requests: Counter = field(default_factory=Counter)  # (kind, status) -> n
    ops: Counter = field(default_factory=Counter)
    server_errors: list = field(default_factory=list)
    unexpected_conn_errors: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)


class Tally:
    """Thread-safe counters for the current round, and totals over the run."""

    def __init__(self):
        self._lock = threading.Lock()
        self.round = RoundTally()
        self.requests = Counter()
        self.ops = Counter()

    def begin_round(self):
        with self._lock:
            self.round = RoundTally()

    def op(self, kind):
        with self._lock:
            self.round.ops[kind] += 1
            self.ops[kind] += 1

    def answered(self, kind, status, request_id, detail):
        with self._lock:
            self.round.requests[kind, status] += 1
            self.requests[kind, status] += 1
            if status >= 500:
                self.round.server_errors.append((kind, status, request_id, detail))

    def retried(self, kind):
        with self._lock:
            self.round.requests[kind, "503-retried"] += 1
            self.requests[kind, "503-retried"] += 1

    def conn_error(self, kind, error, expected):
        with self._lock:
            self.round.requests[kind, CONN_ERROR] += 1
            self.requests[kind, CONN_ERROR] += 1
            if not expected:
                self.round.unexpected_conn_errors.append((kind, error))

    def mismatch(self, what):
        with self._lock:
            self.round.mismatches.append(what)


class Api:
    """Requests to the cofferd replicas (one at random each time) and to presigned URLs."""

    _ids = itertools.count(1)

    def __init__(self, cluster, tally, rng):
        self.cluster = cluster
        self.tally = tally
        self.rng = rng

    def call(self, kind, method, path, token=None, body=None):
        """Sends a JSON request to a random replica; None when it got no answer."""
        request_id = f"chaos-{next(self._ids)}"
        headers = {"X-Request-Id": request_id}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.rng.choice(self.cluster.api_urls()) + path
        return self._send(kind, method, url, headers, data, request_id)

    def presigned(self, kind, method, url, headers=None, body=None):
        """Uses a presigned URL exactly as handed out (its signed headers included)."""
        return self._send(kind, method, url, headers or {}, body, "-", STORE_RETRIES)

    def _send(self, kind, method, url, headers, data, request_id, retries_on_503=0):
        for attempt in range(retries_on_503 + 1):
            try:
                answer = send(method, url, headers, data)
            except ConnError as e:
                self.tally.conn_error(kind, str(e), self.cluster.in_kill_window())
                time.sleep(CONN_ERROR_PAUSE_SECONDS)  # the server may be restarting
                return None
            if answer.status != 503 or attempt == retries_on_503:
                break
            self.tally.retried(kind)
            time.sleep(STORE_RETRY_PAUSE_SECONDS * 2**attempt)
        detail = answer.body[:200].decode(errors="replace") if answer.status >= 500 else ""
        self.tally.answered(kind, answer.status, request_id, detail)
        return answer


def ok(answer, *statuses):
    """Whether the request was answered with one of `statuses`."""
    return answer is not None and answer.status in statuses
