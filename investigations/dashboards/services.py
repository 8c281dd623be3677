"""What the dashboards count. Each function returns numbers (``charts.Tally``) or plain facts; the
views turn tallies into charts, so a chart's table is exactly what its function returned.

Threat counts come from Mimecast's TTP logs through the client (guarded: a failure is a ``Problem``
shown where the chart would be). Everything else is read from our own records.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from investigations.audit.chain import newest_checkpoint
from investigations.connection.services import mimecast_client
from investigations.core.problems import Problem, Section, fan_out, guarded
from investigations.dashboards import selectors
from investigations.dashboards.charts import Series, Tally
from investigations.models import AuditAction, RemediationRequest

logger = logging.getLogger("investigations.dashboards")

THREAT_DAYS = 7
# Pages of each log read for the counts (100 entries a page): enough for a week of a mid-sized
# organisation; beyond it the chart says it counted only the first ones.
THREAT_MAX_PAGES = 10
# The counts change slowly and cost three log reads: each process keeps them this long.
THREAT_CACHE_SECONDS = 300
DECISION_DAYS = 30
REMEDIATION_WEEKS = 8
# Dwell time bands, as (upper bound, label); the last band has no upper bound.
DWELL_BANDS = (
    (timedelta(hours=1), "under 1 h"),
    (timedelta(hours=4), "1 to 4 h"),
    (timedelta(hours=24), "4 to 24 h"),
    (timedelta(days=3), "1 to 3 days"),
    (None, "over 3 days"),
)
# Verdicts with a colour of their own; any other verdict takes the palette's next colour.
VERDICT_TONES = {"malicious": "bad", "clean": "ok", "safe": "ok", "suspicious": "warn", "unknown": "muted"}

State = RemediationRequest.State


# ------------------------------------------------------------------------------------- threats


@dataclass(frozen=True)
class ThreatLog:
    """One TTP log's part of the threat counts: how to read it and how to count an entry."""

    key: str
    title: str
    method: str  # the client's method
    when: str  # the entry's time attribute
    verdict: object  # entry -> the verdict it is counted under


def _impersonation_verdict(entry) -> str:
    return "malicious" if entry.tagged_malicious else "not tagged malicious"


THREAT_LOGS = (
    ThreatLog("url_clicks", "URL clicks by verdict", "get_url_logs", "date", lambda e: e.scan_result or "unknown"),
    ThreatLog(
        "attachment_verdicts", "Attachment verdicts", "get_attachment_logs", "date", lambda e: e.result or "unknown"
    ),
    ThreatLog(
        "impersonation_hits", "Impersonation hits", "get_impersonation_logs", "event_time", _impersonation_verdict
    ),
)


def _days(now: datetime, days: int) -> list[date]:
    today = timezone.localtime(now).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _day_label(day: date) -> str:
    return day.strftime("%a %d %b")


def _by_verdict(labels, counts: Counter, *, unit: str, note: str = "") -> Tally:
    """Day-by-verdict counts as a tally: the known verdicts in a fixed order, then the others."""
    known = list(VERDICT_TONES)
    verdicts = sorted({v for _, v in counts}, key=lambda v: (known.index(v) if v in known else len(known), v))
    series = tuple(
        Series(verdict.capitalize(), tuple(counts[(day, verdict)] for day in labels), VERDICT_TONES.get(verdict, ""))
        for verdict in verdicts
    )
    return Tally(
        tuple(_day_label(d) for d in labels),
        series,
        unit=unit,
        category="Day",
        note=note,
        axis_labels=tuple(d.strftime("%a %d") for d in labels),
    )


def _count_log(client, log: ThreatLog, days: list[date], start: datetime, end: datetime) -> Tally:
    counts: Counter = Counter()
    read, pages, more = 0, 0, False
    method = getattr(client, log.method)
    for page in client.iter_pages(method, start=start, end=end, max_pages=THREAT_MAX_PAGES):
        pages += 1
        more = bool(page.next_token and page.items)
        for entry in page.items:
            read += 1
            when = getattr(entry, log.when, None)
            if when is None:
                continue
            day = timezone.localtime(when).date()
            if day in days:
                counts[(day, log.verdict(entry))] += 1
    note = (
        f"Counted the first {read:,} entries of the log; there are more." if more and pages >= THREAT_MAX_PAGES else ""
    )
    return _by_verdict(days, counts, unit="entries", note=note)


def _threat_cache_key(client, day: date) -> str:
    config = client.config
    who = config.client_id if config.api_version == 2 else (config.access_key or config.username)
    identity = "|".join((str(config.api_version), config.base_url, config.app_id, who, day.isoformat()))
    return "dashboards:threats:" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def threat_counts(*, now: datetime | None = None, days: int = THREAT_DAYS) -> dict[str, Section]:
    """{log key: Section(Tally or Problem)} for the TTP logs over the last ``days`` days (today
    included), counted per day and verdict. The three logs are read concurrently; one failing
    leaves the others. Successful counts are kept for THREAT_CACHE_SECONDS."""
    now = now or timezone.now()
    client, problem = guarded(mimecast_client)
    if problem:
        return {log.key: Section(problem=problem) for log in THREAT_LOGS}
    labels = _days(now, days)
    start = timezone.make_aware(datetime.combine(labels[0], datetime.min.time()), timezone.get_current_timezone())
    key = _threat_cache_key(client, labels[-1])
    try:
        cached = cache.get(key) or {}
    except Exception:  # a cache that is down costs the Mimecast calls, never the page
        logger.warning("dashboard cache unavailable", exc_info=True)
        cached = {}
    calls = {
        log.key: (lambda log=log: _count_log(client, log, labels, start, now))
        for log in THREAT_LOGS
        if log.key not in cached
    }
    sections = {k: Section(value=v) for k, v in cached.items()} | fan_out(calls)
    fresh = {k: s.value for k, s in sections.items() if s.ok}
    if fresh and len(fresh) > len(cached):
        try:
            cache.set(key, fresh, THREAT_CACHE_SECONDS)
        except Exception:
            logger.warning("dashboard cache unavailable", exc_info=True)
    return {log.key: sections[log.key] for log in THREAT_LOGS}


# ---------------------------------------------------------------------------------- approvals


@dataclass(frozen=True)
class DecisionTimes:
    count: int
    median: timedelta | None
    p90: timedelta | None
    days: int


def _percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of them at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def decision_times(*, now: datetime | None = None, days: int = DECISION_DAYS) -> DecisionTimes:
    """How long requests waited from submission to their decision (approved or rejected) over the
    last ``days`` days: the median and the 90th percentile."""
    now = now or timezone.now()
    waits = [
        (decided - submitted).total_seconds()
        for submitted, decided in selectors.decisions_since(since=now - timedelta(days=days))
        if decided >= submitted
    ]
    if not waits:
        return DecisionTimes(0, None, None, days)
    return DecisionTimes(
        len(waits),
        timedelta(seconds=statistics.median(waits)),
        timedelta(seconds=_percentile(waits, 0.9)),
        days,
    )


def approval_queue_ages(*, queue, now: datetime | None = None) -> Tally:
    """The waiting requests by how long they have waited (one bar each, in hours)."""
    now = now or timezone.now()
    labels, hours = [], []
    for req in queue:
        labels.append(f"#{req.pk} {req.get_kind_display().split(' (')[0]}")
        waited = (now - req.submitted_at).total_seconds() / 3600 if req.submitted_at else 0
        hours.append(round(max(0.0, waited), 1))
    return Tally(tuple(labels), (Series("Waiting (hours)", tuple(hours)),), unit="h", category="Request")


# --------------------------------------------------------------------------------- remediation


def requests_by_state() -> Tally:
    """Every request counted by its state, in the order a request moves through them."""
    counts = selectors.requests_by_state()
    states = [s for s in State if counts.get(s.value)]
    return Tally(
        tuple(s.label for s in states),
        (Series("Requests", tuple(counts[s.value] for s in states)),),
        unit="requests",
        category="State",
    )


def _received_times(req) -> list[datetime]:
    """When the request's messages were delivered, where its preview recorded it."""
    preview = req.preview or {}
    rows = [*(preview.get("messages") or []), *(preview.get("targets") or [])]
    times = []
    for row in rows:
        value = row.get("received") if isinstance(row, dict) else None
        if not value:
            continue
        try:
            when = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            continue
        if timezone.is_naive(when):
            when = when.replace(tzinfo=UTC)
        times.append(when)
    return times


def remediation_dwell(*, now: datetime | None = None, weeks: int = REMEDIATION_WEEKS) -> Tally:
    """Succeeded removals of the last ``weeks`` weeks by dwell time: from the first delivery of the
    messages they removed to the removal done. Removals whose delivery times are unknown are left out
    (the note says how many)."""
    now = now or timezone.now()
    bands = Counter()
    unknown = 0
    for req in selectors.removals_finished_since(since=now - timedelta(weeks=weeks)):
        received = _received_times(req)
        if not received:
            unknown += 1
            continue
        dwell = req.finished_at - min(received)
        label = next(label for bound, label in DWELL_BANDS if bound is None or dwell < bound)
        bands[label] += 1
    note = f"{unknown} removal{'s' if unknown != 1 else ''} left out: delivery time not known." if unknown else ""
    labels = tuple(label for _, label in DWELL_BANDS)
    return Tally(
        labels,
        (Series("Removals", tuple(bands[b] for b in labels)),),
        unit="removals",
        category="Dwell time",
        note=note,
    )


def _week_start(when: datetime) -> date:
    day = timezone.localtime(when).date()
    return day - timedelta(days=day.weekday())


def mailboxes_cleaned_by_week(*, now: datetime | None = None, weeks: int = REMEDIATION_WEEKS) -> Tally:
    """Mailbox copies removed per week (weeks start on Monday), by the removals that succeeded: an
    incident's count of copies removed, or a per-mailbox removal's items that removed something."""
    now = now or timezone.now()
    this_week = _week_start(now)
    starts = [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    removals = selectors.removals_finished_since(
        since=timezone.make_aware(datetime.combine(starts[0], datetime.min.time()))
    )
    items = selectors.done_items(
        request_ids=[r.pk for r in removals if r.kind == RemediationRequest.Kind.REMEDIATE_MESSAGES]
    )
    cleaned = Counter()
    for req in removals:
        if req.kind == RemediationRequest.Kind.REMEDIATE_MESSAGES:
            n = sum(1 for item in items.get(req.pk, []) if (item.result or {}).get("outcome") == "removed")
        else:
            n = req.successful or 0
        cleaned[_week_start(req.finished_at)] += n
    return Tally(
        tuple(f"Week of {start.strftime('%d %b %Y')}" for start in starts),
        (Series("Mailboxes cleaned", tuple(cleaned[s] for s in starts)),),
        unit="mailboxes",
        category="Week",
        axis_labels=tuple(start.strftime("%d %b") for start in starts),
    )


# ------------------------------------------------------------------------------------- admin


@dataclass(frozen=True)
class ConnectionHealth:
    last_test: object  # AuditEvent or None
    last_call: object  # AuditEvent or None

    @property
    def last_call_label(self) -> str:
        action = self.last_call.action if self.last_call is not None else ""
        return dict(AuditAction.choices).get(action, action)


def connection_health() -> ConnectionHealth:
    """The newest "test connection" and the newest call to Mimecast on someone's behalf, as audited."""
    return ConnectionHealth(selectors.newest_connection_test(), selectors.newest_mimecast_call())


@dataclass(frozen=True)
class RateHeadroom:
    remaining: float | None
    interval: float
    in_flight: int
    problem: Problem | None = None


def rate_headroom() -> RateHeadroom:
    """What the shared pacer knows of Mimecast's rate budget (no call is made to find out)."""
    client, problem = guarded(mimecast_client)
    if problem:
        return RateHeadroom(None, 0.0, 0, problem)
    headroom = client.pacer.headroom()
    return RateHeadroom(headroom.remaining, headroom.interval, headroom.in_flight)


@dataclass(frozen=True)
class CheckpointAge:
    seq: int | None
    written: datetime | None
    age: timedelta | None
    problems: int


def audit_checkpoint_age(*, now: datetime | None = None) -> CheckpointAge:
    """The newest well-signed audit checkpoint, when it was written and how long ago; ``problems``
    counts the newer files that are unreadable or badly signed (verification reports every one)."""
    problems: list = []
    newest = newest_checkpoint(problems=problems)
    if newest is None:
        return CheckpointAge(None, None, None, len(problems))
    written = datetime.fromisoformat(newest.created_at)
    return CheckpointAge(newest.seq, written, (now or timezone.now()) - written, len(problems))
