"""Waiting for a real worker: read until the answer is final, or fail saying what was last seen."""

import time


def poll_until(read, done, *, timeout=60, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"still {value!r} after {timeout}s")
        time.sleep(interval)
