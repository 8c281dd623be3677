"""A reset gives back exactly the seeded organisation, whatever was changed since: every test that
resets the shared simulator relies on it."""

import gc
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta

import pytest

from mimecast_simulator import SimulatorServer
from mimecast_simulator.data import Message, State, generate

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
# Every simulator a test resets has seed 1; 7 and 8 are the other seeds tests generate.
SEEDS = [1, pytest.param(7, marks=pytest.mark.slow), pytest.param(8, marks=pytest.mark.slow)]


def vandalise(value, seen):
    """Change `value` in place all the way down: every list and dict gets an extra item and every item
    changed, every attribute of an object (a message's slots, a dataclass's fields) is reassigned."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, list):
        for item in value:
            vandalise(item, seen)
        value.append("vandalised")
    elif isinstance(value, dict):
        for item in value.values():
            vandalise(item, seen)
        value["vandalised"] = True
    elif isinstance(value, Message):
        for name in Message.__slots__:
            vandalise(getattr(value, name), seen)
            setattr(value, name, _other(getattr(value, name)))
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            vandalise(getattr(value, f.name), seen)
            setattr(value, f.name, _other(getattr(value, f.name)))


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + " (changed)"
    if isinstance(value, bytes):
        return value + b"!"
    if isinstance(value, datetime):
        return value + timedelta(days=1)
    return value  # a container, changed in place already, or None


PLAIN = {str, bytes, int, float, bool, type(None), datetime}


def snapshot(state: State):
    """The whole state as plain values, with which mutable parts are one and the same object (a message
    in both `messages` and `message_by_id`) kept as references, and without the clock a reset restarts."""
    labels = {}

    def canon(v):
        kind = type(v)
        if kind in PLAIN:
            return v
        if kind is tuple:
            return tuple(canon(x) for x in v)
        if id(v) in labels:
            return ("same as", labels[id(v)])
        labels[id(v)] = len(labels)
        if kind is list:
            return [canon(x) for x in v]
        if kind is dict:
            return "dict", [(canon(k), canon(x)) for k, x in v.items()]
        if kind is Message:
            return "Message", [canon(getattr(v, n)) for n in Message.__slots__]
        assert is_dataclass(v), kind  # Mailbox, Attachment, the State itself: nothing else is expected
        return kind.__name__, [(n, canon(x)) for n, x in vars(v).items() if n != "started_monotonic"]

    return canon(state)


@pytest.fixture(scope="module", params=SEEDS)
def server(request):
    """A simulator of the module's own (not started: resets need no HTTP), one for each seed."""
    return SimulatorServer(port=0, seed=request.param, now=NOW)


def test_a_reset_after_every_part_of_the_state_changed_gives_the_seeded_state_back(server):
    seeded = snapshot(generate(server.seed, NOW))
    for _ in range(2):  # the first reset keeps the seeded copy, later ones reload it
        state = server.state
        seen = set()
        vandalise(state, seen)  # every field, reassigned after its contents changed
        vandalise(vars(state), seen)  # and what is kept beside the fields, plus an attribute more
        assert state.messages[0].subject.endswith("(changed)") and state.messages[0].to[-1] == "vandalised"
        server.reset()
        assert snapshot(server.state) == seeded
        assert server.state is not state


def test_a_reset_hands_out_nothing_mutable_of_the_previous_copy(server):
    before = server.state
    server.reset()
    after = server.state
    mutable = (list, dict, Message)
    old = {id(v) for v in _walk(before) if isinstance(v, mutable)}
    assert not [v for v in _walk(after) if isinstance(v, mutable) and id(v) in old]


def _walk(value, seen=None):
    seen = set() if seen is None else seen
    stack = [value]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        yield v
        if isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, Message):
            stack.extend(getattr(v, n) for n in Message.__slots__)
        elif is_dataclass(v) and not isinstance(v, type):
            stack.extend(vars(v).values())


@pytest.mark.parametrize("enabled", [True, False])
def test_a_reset_leaves_the_garbage_collector_as_it_found_it(server, enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        server.state.messages.clear()
        server.reset()
        assert gc.isenabled() is enabled
        assert server.state.messages
    finally:
        gc.enable() if was else gc.disable()
