"""Checking an exported case bundle offline, with nothing but Python's standard library.

An auditor who holds a bundle but not the portal runs this (through scripts/verify_bundle.py, or
`manage.py verify_bundle FILE` where the portal is installed). It imports nothing from Django or the
portal on purpose: copied next to scripts/verify_bundle.py it works on any Python 3.11.

What it checks, in order, stopping at the first failure:
1. the file is the bundle as exported: valid UTF-8 JSON of this format and version;
2. every audit event recomputes to its own hash, byte for byte as the chain defines it
   (models.event_hash, and the database function the chaining trigger calls);
3. events whose seqs follow each other link (the later one's prev_hash is the earlier one's hash);
4. the chain head the bundle was pinned to is one of its events, with that hash;
5. the digest (SHA-256 over the canonical JSON of everything but the digest) matches;
6. the file's bytes are exactly the canonical form the portal wrote, so a change that leaves the
   JSON meaning alone (whitespace, an escape) is refused too.
"""

import hashlib
import json
import re
import sys
from decimal import Decimal

BUNDLE_FORMAT = "mimecast-portal-case-bundle"
BUNDLE_VERSION = 1
GENESIS_HASH = "0" * 64
# The fields an event's hash covers, in order. The one definition: models imports it, and this
# module needs nothing but the standard library, so an auditor can run it without the portal.
CHAIN_FIELDS = (
    "seq",
    "created_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "reason",
    "request_id",
    "client_ip",
    "user_agent",
    "data",
    "prev_hash",
)
EVENT_KEYS = (*CHAIN_FIELDS, "hash")
_INT_FIELDS = ("seq",)
_HEX = frozenset("0123456789abcdef")
# The layout bundle_bytes writes (indent 1): a top-level key, an item's opening or closing line in a
# top-level list, and an event's seq.
_TOP_LEVEL_KEY = re.compile(r'\n "[^"\n]*": ')
_ITEM_LINE = re.compile(r"\n  [^ \n]")
_SEQ_LINE = re.compile(r'\n   "seq": (\d+)')


class BundleError(Exception):
    """The bundle fails a check; the message says which and where."""


def json_text(value):
    """A value as PostgreSQL's json/jsonb text output writes it."""
    if isinstance(value, str):
        # PostgreSQL escapes exactly what json.dumps escapes with ensure_ascii=False: the quote,
        # the backslash and control characters (\b \f \n \r \t, others as \u00xx).
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # jsonb keeps numbers as numeric, which never prints an exponent nor a negative zero.
        return format(Decimal(repr(value)) if value else Decimal(repr(abs(value))), "f")
    if isinstance(value, dict):
        # jsonb orders keys by their length in bytes, then bytewise.
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{json_text(k)}: {json_text(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    raise TypeError(f"cannot hash a {type(value).__name__} in an audit event")


def event_hash(event):
    """The hash of one bundle event: its created_at is already the UTC text the chain hashes."""
    text = "[" + ", ".join(json_text(event[name]) for name in CHAIN_FIELDS) + "]"
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_json(value):
    """One exact spelling of a JSON document: keys sorted, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def bundle_digest(bundle):
    """SHA-256 over the canonical JSON of the whole bundle but its digest."""
    body = {key: value for key, value in bundle.items() if key != "digest"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def bundle_bytes(bundle):
    """The file the portal writes: sorted keys, indented for reading, ending in a newline."""
    return (json.dumps(bundle, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _name(event, index):
    """An event as a reader finds it: by its seq, and by its place in the file (a damaged seq)."""
    seq = event.get("seq") if isinstance(event, dict) else None
    place = f"(#{index + 1} in the bundle)"
    return f"event seq={seq} {place}" if isinstance(seq, int) and not isinstance(seq, bool) else f"event {place}"


def _is_hash(value):
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _check_event_shape(event, index):
    if not isinstance(event, dict):
        raise BundleError(f"{_name(event, index)} is not an object")
    missing = [key for key in EVENT_KEYS if key not in event]
    extra = sorted(set(event) - set(EVENT_KEYS))
    if missing or extra:
        what = "; ".join(f"{label} {names}" for label, names in (("missing", missing), ("unexpected", extra)) if names)
        raise BundleError(f"{_name(event, index)}: fields {what}")
    for key in EVENT_KEYS:
        value = event[key]
        if key in _INT_FIELDS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        elif key == "data":
            ok = isinstance(value, dict | list)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise BundleError(f"{_name(event, index)}: {key} has the wrong type")
    for key in ("prev_hash", "hash"):
        if not _is_hash(event[key]):
            raise BundleError(f"{_name(event, index)}: {key} is not a SHA-256 hex digest")


def _check_events(events):
    if not isinstance(events, list):
        raise BundleError("the bundle's events are not a list")
    previous = None
    for index, event in enumerate(events):
        _check_event_shape(event, index)
        if event_hash(event) != event["hash"]:
            raise BundleError(f"{_name(event, index)}: its content does not match its hash (altered)")
        if previous is not None:
            if event["seq"] <= previous["seq"]:
                raise BundleError(f"{_name(event, index)}: out of seq order")
            if event["seq"] == previous["seq"] + 1 and event["prev_hash"] != previous["hash"]:
                raise BundleError(f"{_name(event, index)}: it does not link to event seq={previous['seq']}")
        previous = event


def _check_head(bundle, events):
    head = bundle.get("chain_head")
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int) or not _is_hash(head.get("hash")):
        raise BundleError("the bundle has no valid chain_head")
    pinned = [event for event in events if event["seq"] == head["seq"]]
    if not pinned or pinned[0]["hash"] != head["hash"]:
        raise BundleError(f"the chain head seq={head['seq']} is not among the events with that hash")
    if events and events[-1]["seq"] > head["seq"]:
        raise BundleError(f"event seq={events[-1]['seq']} is after the chain head seq={head['seq']}")
    return head


def _first_difference(found, expected):
    """The index of the first character where the file leaves its canonical form."""
    return next(
        (i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b), min(len(found), len(expected))
    )


def _where(text, pos):
    """Line and column of pos, and the event it falls in. The portal's layout writes every top-level
    key on a line indented by one space, and each item of a top-level list between an opening and
    a closing line indented by two (strings never hold a raw newline), so counting those lines
    places a damaged byte even when the file no longer parses."""
    line_start = text.rfind("\n", 0, pos)
    place = f"line {text.count(chr(10), 0, pos) + 1}, column {pos - line_start}"
    start = text.find('\n "events": [')
    if start < 0 or pos <= start:
        return place
    end = _TOP_LEVEL_KEY.search(text, start + 1)
    if end is not None and pos >= end.start():
        return place
    bounds = [m.start() for m in _ITEM_LINE.finditer(text, start, end.start() if end else len(text))]
    number = sum(1 for offset in bounds if offset < line_start) // 2 + 1
    if number > (len(bounds) + 1) // 2:
        return place
    opening = bounds[2 * number - 2]
    closing = bounds[2 * number - 1] if 2 * number - 1 < len(bounds) else len(text)
    seq = _SEQ_LINE.search(text, opening, closing)
    if seq:
        return f"event seq={seq.group(1)} (#{number} in the bundle), {place}"
    return f"event (#{number} in the bundle), {place}"


def verify_bundle_bytes(raw):
    """Check a bundle's bytes; return (events checked, head seq), or raise BundleError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start].decode("utf-8", errors="replace")
        where = _where(before, len(before))
        raise BundleError(f"the file is not UTF-8 at {where}") from None
    try:
        bundle = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        where = _where(text, error.pos) if isinstance(error, json.JSONDecodeError) else "?"
        raise BundleError(f"the file is not valid JSON at {where}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"the file is not a {BUNDLE_FORMAT}")
    if bundle.get("version") != BUNDLE_VERSION:
        raise BundleError(f"bundle version {bundle.get('version')!r} is not {BUNDLE_VERSION}")
    events = bundle.get("events")
    _check_events(events)
    head = _check_head(bundle, events)
    digest = bundle.get("digest")
    if not isinstance(digest, dict) or digest.get("sha256") != bundle_digest(bundle):
        raise BundleError("the digest does not match the bundle (something outside the events was altered)")
    expected = bundle_bytes(bundle).decode("utf-8")
    if text != expected:
        where = _where(text, _first_difference(text, expected))
        raise BundleError(f"the file differs from the bundle as exported at {where}")
    return len(events), head["seq"]


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def main(argv=None):
    """`verify_bundle FILE`: exit 0 and one OK line, or exit 1 and what failed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: verify_bundle.py BUNDLE.json", file=sys.stderr)
        return 2
    try:
        with open(args[0], "rb") as handle:
            raw = handle.read()
    except OSError as error:
        print(f"FAILED: cannot read {args[0]}: {error.strerror}", file=sys.stderr)
        return 1
    try:
        count, head_seq = verify_bundle_bytes(raw)
    except BundleError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print(f"OK: {count} events, head seq {head_seq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
