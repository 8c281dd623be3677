"""Injectable faults, per endpoint path or "*" for every endpoint.

kinds:
  latency     ms=...                  adds delay, then answers normally (count=None: until cleared)
  status      status=..., count=...   answers with that HTTP status and a Mimecast fail body; function not run
  rate_limit  reset_ms=..., count=... HTTP 429 with X-RateLimit-* headers (Remaining 0); function not run
  hang        seconds=..., count=...  sleeps, then runs the function and answers (the client has usually
                                      timed out by then, which is exactly the ambiguous case to test)
  truncate    count=...               runs the function, answers 200 with the body cut in half mid-JSON
                                      (Content-Length matches the cut body, so the client sees bad JSON)
  fail        code=..., message=...   HTTP 200 with a fail[] entry; function not run
  meta_status status=..., count=...   HTTP 200 with meta.status=<status>; function not run

path: an exact path, "*" for every endpoint, or a prefix ending in "/" (e.g. "/api/ttp/").
Several faults can match one call: delays add up, then the first short-circuiting fault answers.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass

KINDS = {"latency", "status", "rate_limit", "hang", "truncate", "fail", "meta_status"}


@dataclass
class Fault:
    id: int
    path: str
    kind: str
    count: int | None = None
    status: int | None = None
    ms: int = 0
    seconds: float = 0.0
    reset_ms: int = 1000
    code: str = "err_simulated_failure"
    message: str = "Simulated failure"

    def to_dict(self):
        return asdict(self)


class FaultRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        path: str = "*",
        kind: str = "status",
        *,
        count: int | None = None,
        status: int | None = None,
        ms: int = 0,
        seconds: float = 0.0,
        reset_ms: int = 1000,
        code: str = "err_simulated_failure",
        message: str = "Simulated failure",
    ) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        if kind == "status" and status is None:
            status = 503
        if kind == "meta_status" and status is None:
            status = 403
        if count is not None and int(count) <= 0:
            raise ValueError("count must be positive or None")
        fault = Fault(
            id=next(self._ids),
            path=path,
            kind=kind,
            count=None if count is None else int(count),
            status=None if status is None else int(status),
            ms=int(ms),
            seconds=float(seconds),
            reset_ms=int(reset_ms),
            code=code,
            message=message,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str) -> list[Fault]:
        """Faults that apply to this call; consumes one use of each counted fault."""
        out = []
        with self._lock:
            for fault in list(self._faults):
                if not (fault.path in ("*", path) or (fault.path.endswith("/") and path.startswith(fault.path))):
                    continue
                out.append(fault)
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return out
