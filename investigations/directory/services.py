"""Directory, policy and awareness reads: groups and their members, the blocked-sender policies (and
which of them cover a sender), SAFE scores, phishing campaigns and training.

Every Mimecast call is guarded: a failure comes back as a ``Problem`` shown in place. The first page
of each search is audited as a ``search.*`` event.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from investigations.audit.services import audit_criteria, audit_read
from investigations.connection.services import mimecast_client
from investigations.core.problems import Problem, guarded
from investigations.models import AuditAction

PAGE_SIZE = 100
MEMBERS_PAGE_SIZE = 500
# Reading a whole list (a group's members, every SAFE score, a campaign's users) stops after this many pages.
MAX_PAGES = 20


def _first_page_audited(actor, action, target, data, problem, page_token):
    if not page_token:
        audit_read(actor=actor, action=action, target=target, data=data, problem=problem)


def group_search(*, actor, query: str, source: str, page_token: str | None):
    client, problem = guarded(mimecast_client)
    page = None
    if client is not None:
        page, problem = guarded(
            lambda: client.find_groups(
                query=query or None, source=source or None, page_size=PAGE_SIZE, page_token=page_token or None
            )
        )
    data = {"criteria": audit_criteria({"query": query, "source": source})}
    _first_page_audited(actor, AuditAction.SEARCH_GROUPS, ("mimecast", "groups"), data, problem, page_token)
    return page, problem


def group_members(*, actor, group_id: str, page_token: str | None, page_size: int = MEMBERS_PAGE_SIZE):
    client, problem = guarded(mimecast_client)
    page = None
    if client is not None:
        page, problem = guarded(
            lambda: client.get_group_members(group_id, page_size=page_size, page_token=page_token or None)
        )
    data = {"id": group_id}
    _first_page_audited(actor, AuditAction.SEARCH_GROUP_MEMBERS, ("group", group_id), data, problem, page_token)
    return page, problem


# -------------------------------------------------------------------------- blocked-sender policies


@dataclass
class PolicyRow:
    policy: Any
    applies: bool = False
    why: str = ""
    group_name: str = ""  # the "from" side's group, when it names one
    to_group_name: str = ""
    # Whether the policy covers the sender could not be decided (its group's members could not be read).
    undecided: bool = False


def _sender_parts(sender: str) -> tuple[str, str]:
    sender = (sender or "").lower()
    if "@" in sender:
        return sender, sender.rsplit("@", 1)[1]
    return "", sender


def _group_addresses(client, group_id: str) -> set[str] | None:
    """Every member of a group, an address or (for a member without one) a whole domain; None when
    the membership cannot be read."""
    members, problem = guarded(
        lambda: {
            (member.email_address or member.domain).lower()
            for member in client.iter_items(
                client.get_group_members, group_id, page_size=MEMBERS_PAGE_SIZE, max_pages=MAX_PAGES
            )
            if member.email_address or member.domain
        }
    )
    return None if problem else members


def _group_ids(rows: list[PolicyRow]) -> set[str]:
    return {
        party.value
        for row in rows
        for party in (row.policy.from_, row.policy.to)
        if party.type == "profile_group" and party.value
    }


def _name_groups(client, rows: list[PolicyRow]) -> Problem | None:
    """Name the groups the policies' "from" and "to" sides point at, in one walk of the directory's
    group list for the whole page, stopped as soon as every group is named; a group it does not find
    keeps its id (shown as such)."""
    wanted = _group_ids(rows)
    names: dict[str, str] = {}

    def read():
        for group in client.iter_items(client.find_groups, page_size=PAGE_SIZE, max_pages=MAX_PAGES):
            if group.id in wanted:
                names[group.id] = group.name
                if len(names) == len(wanted):
                    return

    problem = guarded(read).problem if wanted else None
    for row in rows:
        if row.policy.from_.type == "profile_group":
            row.group_name = names.get(row.policy.from_.value, "")
        if row.policy.to.type == "profile_group":
            row.to_group_name = names.get(row.policy.to.value, "")
    return problem


UNREAD_GROUP = "group membership could not be read"


class _Coverage:
    """Whether a policy's "from" side covers one sender, and why (group memberships read once)."""

    def __init__(self, client, sender: str):
        self.client = client
        self.address, self.domain = _sender_parts(sender)
        self.members: dict[str, set[str] | None] = {}

    def __call__(self, row: PolicyRow) -> tuple[bool, str]:
        kind, raw_value = row.policy.from_.type, row.policy.from_.value or ""
        value, address, domain = raw_value.lower(), self.address, self.domain
        if kind == "everyone":
            return True, "applies to every sender"
        if kind == "email_address" and address and value == address:
            return True, "names this address"
        if kind == "email_domain" and domain and (domain == value or domain.endswith("." + value)):
            return True, f"covers the domain {value}"
        if kind == "profile_group":
            if raw_value not in self.members:
                self.members[raw_value] = _group_addresses(self.client, raw_value)
            members = self.members[raw_value]
            if members is None:
                return False, UNREAD_GROUP
            if (address and address in members) or (domain and domain in members):
                return True, f"the sender is in the group {row.group_name or raw_value}"
            return False, ""
        if kind == "external_addresses":
            return False, "applies if the sender is external"
        if kind == "free_mail_domains":
            return False, "applies if the sender uses a free mail domain"
        return False, ""


def blocked_sender_policies(*, actor, sender: str = ""):
    """The blocked-sender policies, read-only. Given a sender, each policy says whether its "from"
    side covers that sender and why: the address, its domain, a group it belongs to, everyone."""
    client, problem = guarded(mimecast_client)
    policies = None
    if client is not None:
        policies, problem = guarded(client.get_blocked_sender_policies)
    rows = [PolicyRow(policy=p) for p in policies or []]
    group_problem = _name_groups(client, rows) if rows and client is not None else None
    if sender and rows and client is not None:
        covers = _Coverage(client, sender)
        for row in rows:
            row.applies, row.why = covers(row)
            row.undecided = row.why == UNREAD_GROUP
        rows.sort(key=lambda r: (not r.applies, not (r.policy.enabled is not False)))
    audit_read(
        actor=actor,
        action=AuditAction.SEARCH_BLOCKED_SENDERS,
        target=("mimecast", "blocked-senders"),
        data={"sender": sender, "policies": len(rows), "applying": sum(1 for r in rows if r.applies)},
        problem=problem,
    )
    return rows, problem, group_problem


# ---------------------------------------------------------------------------------------- awareness


@dataclass
class AwarenessOverview:
    summary: Any = None
    summary_problem: Problem | None = None
    scores: list = field(default_factory=list)
    scores_next: str | None = None
    scores_problem: Problem | None = None
    campaigns: list = field(default_factory=list)
    campaigns_problem: Problem | None = None
    training: Any = None
    training_problem: Problem | None = None


def _filtered_scores(page, q: str, risk: str) -> list:
    """Mimecast cannot filter SAFE scores: the filter runs here. Riskiest first: F, D, C, B, A, then
    anything without a grade."""
    needle = q.lower()
    scores = [
        s
        for s in page.items
        if (not risk or s.risk.upper() == risk)
        and (not needle or any(needle in v.lower() for v in (s.email_address, s.name, s.department)))
    ]
    return sorted(scores, key=lambda s: ("FDCBA".find(s.risk.upper()) % 6, s.email_address))


def awareness_overview(
    *, actor, q: str = "", risk: str = "", page_token: str | None = None, later_screen: bool = False
) -> AwarenessOverview:
    """SAFE score summary, per-user scores, phishing campaigns and the API user's own training
    status, read concurrently; each part fails on its own. ``later_screen``: the user turned to a later
    screen of the same answer, which is not a new search to audit."""
    out = AwarenessOverview()
    client, problem = guarded(mimecast_client)
    if client is None:
        out.summary_problem = out.scores_problem = out.campaigns_problem = out.training_problem = problem
    else:
        with ThreadPoolExecutor(max_workers=4) as pool:
            summary = pool.submit(guarded, client.get_safe_score_summary)
            scores = pool.submit(
                guarded, lambda: client.get_safe_score_details(page_size=500, page_token=page_token or None)
            )
            campaigns = pool.submit(guarded, client.get_phishing_campaigns)
            training = pool.submit(guarded, client.get_training_details)
        out.summary, out.summary_problem = summary.result()
        page, out.scores_problem = scores.result()
        campaign_list, out.campaigns_problem = campaigns.result()
        out.campaigns = campaign_list or []
        out.training, out.training_problem = training.result()
        if page is not None:
            out.scores = _filtered_scores(page, q, risk)
            out.scores_next = page.next_token
    _first_page_audited(
        actor,
        AuditAction.SEARCH_AWARENESS,
        ("mimecast", "awareness"),
        {"criteria": audit_criteria({"q": q, "risk": risk})},
        out.summary_problem or out.scores_problem,
        page_token or later_screen,
    )
    return out


def campaign_results(
    *, actor, campaign_id: str, result: str = "", page_token: str | None = None, later_screen: bool = False
):
    client, problem = guarded(mimecast_client)
    campaign = page = None
    if client is not None:
        campaigns, problem = guarded(lambda: client.get_phishing_campaigns(campaign_id))
        campaign = campaigns[0] if campaigns else None
        if problem is None:
            page, problem = guarded(
                lambda: client.get_phishing_user_data(campaign_id, page_size=500, page_token=page_token or None)
            )
    users = list(page.items) if page else []
    if result:
        users = [u for u in users if getattr(u, result, None)]
    data = {"campaign": campaign_id, "result": result}
    later = page_token or later_screen
    _first_page_audited(actor, AuditAction.SEARCH_AWARENESS, ("campaign", campaign_id), data, problem, later)
    return campaign, users, (page.next_token if page else None), problem


@dataclass
class AwarenessUser:
    email: str
    score: Any = None
    score_problem: Problem | None = None
    performance: Any = None
    performance_problem: Problem | None = None
    phishing: list = field(default_factory=list)  # (campaign, result)
    phishing_problem: Problem | None = None


def _find_score(client, email):
    scores = client.iter_items(client.get_safe_score_details, page_size=500, max_pages=MAX_PAGES)
    return next((s for s in scores if s.email_address.lower() == email), None)


def _find_performance(client, email):
    page = client.get_performance_details(search_field="email", search_value=email, page_size=500)
    return next((p for p in page.items if p.email.lower() == email), None)


def _find_phishing(client, email):
    found = []
    for campaign in client.get_phishing_campaigns():
        users = client.iter_items(client.get_phishing_user_data, campaign.id, page_size=500, max_pages=MAX_PAGES)
        match = next((r for r in users if r.email.lower() == email), None)
        if match is not None:
            found.append((campaign, match))
    return found


def awareness_user(*, actor, email: str) -> AwarenessUser:
    """One user's SAFE score, training performance and phishing-simulation results."""
    email = email.lower()
    out = AwarenessUser(email=email)
    client, problem = guarded(mimecast_client)
    if client is None:
        out.score_problem = out.performance_problem = out.phishing_problem = problem
    else:
        with ThreadPoolExecutor(max_workers=3) as pool:
            score = pool.submit(guarded, lambda: _find_score(client, email))
            perf = pool.submit(guarded, lambda: _find_performance(client, email))
            phishing = pool.submit(guarded, lambda: _find_phishing(client, email))
        out.score, out.score_problem = score.result()
        out.performance, out.performance_problem = perf.result()
        found, out.phishing_problem = phishing.result()
        out.phishing = found or []
    audit_read(
        actor=actor,
        action=AuditAction.SEARCH_AWARENESS_USER,
        target=("mailbox", email),
        data={"email": email},
        problem=out.score_problem or out.performance_problem or out.phishing_problem,
    )
    return out
