"""A scripted stand-in for requests.Session, for client tests that need no server."""

from __future__ import annotations

import json as jsonlib

import requests


def make_response(status=200, body=None, *, content=None, headers=None, content_type="application/json"):
    response = requests.Response()
    response.status_code = status
    if content is None:
        content = b"" if body is None else jsonlib.dumps(body).encode()
    response._content = content
    response.headers.update({"Content-Type": content_type, **(headers or {})})
    response.encoding = "utf-8"
    return response


def envelope(data, *, fail=None, status=200, pagination=None):
    meta = {"status": status}
    if pagination is not None:
        meta["pagination"] = pagination
    return {"meta": meta, "data": data, "fail": fail or []}


class ScriptedSession:
    """Returns queued responses (or raises queued exceptions) and records every request."""

    def __init__(self, *responses):
        self.queue = list(responses)
        self.requests = []

    def add(self, *responses):
        self.queue.extend(responses)

    def request(self, method, url, **kwargs):
        self.requests.append({"method": method, "url": url, **kwargs})
        if not self.queue:
            raise AssertionError(f"unexpected request {method} {url}")
        item = self.queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def body(self, index=-1):
        return jsonlib.loads(self.requests[index]["data"])
