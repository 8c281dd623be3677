"""Lazy rendering of message headers, bodies and RFC822 sources from a seeded Message record."""

from __future__ import annotations

import base64
import html
from datetime import timedelta
from email.utils import format_datetime

from mimecast_simulator.data import ORG_EGRESS, Message, State

BODIES = {
    "phish": (
        "Dear {first},\n\nYour Microsoft 365 mailbox password expires today. To avoid losing access to your "
        "email, confirm your credentials within 24 hours:\n\n{url0}\n\nMicrosoft 365 Security Team\n"
    ),
    "macro": (
        "Hello {first},\n\nPlease find attached the overdue invoice INV-20931. Payment is now 30 days late. "
        "Open the attached document and click 'Enable Content' to view the payment details.\n\n"
        "Kind regards,\nNorthwind Accounts Receivable\n"
    ),
    "impersonation": (
        "{first},\n\nI need you to process a confidential wire transfer today for an acquisition we are "
        "closing. Do not discuss this with anyone else. Reply to me directly with confirmation once done.\n\n"
        "Sent from my iPhone\nDana\n"
    ),
    "docusign": "Please review and sign your Q4 bonus agreement:\n\n{url0}\n\nDocuSign Electronic Signature Service\n",
    "spam": "Congratulations! Claim your prize now: {url0}\n",
    "news": "This week in tech: logistics, AI and cloud security.\n\nRead more: {url0}\n\nUnsubscribe: {url1}\n",
    "billing": "Hi {first},\n\nYour invoice is ready. View it online: {url0}\n\nThanks,\n{sender}\n",
}
DEFAULT_BODY = (
    "Hi {first},\n\nRe: {subject}\n\nPlease see the details below and let me know.\n\n{links}Best,\n{sender}\n"
)


def _first(m: Message) -> str:
    return (m.to[0][0] or m.to[0][1]).split()[0] if m.to else "there"


def text_body(m: Message, delivered: bool = True) -> str:
    urls = [rw if delivered else orig for orig, rw in m.urls]
    links = "".join(f"{u}\n\n" for u in urls)
    tmpl = BODIES.get(m.template, DEFAULT_BODY)
    body = tmpl.format(
        first=_first(m),
        subject=m.subject,
        sender=m.from_name,
        url0=urls[0] if urls else "",
        url1=urls[1] if len(urls) > 1 else (urls[0] if urls else ""),
        links=links,
    )
    if delivered and m.route == "inbound":
        body = "[EXTERNAL] This message came from outside Acme Corp.\n\n" + body
    return body


def html_body(m: Message, delivered: bool = True) -> str:
    text = text_body(m, delivered)
    urls = [rw if delivered else orig for orig, rw in m.urls]
    escaped = html.escape(text)
    for u in urls:
        esc = html.escape(u)
        escaped = escaped.replace(esc, f'<a href="{esc}">{esc}</a>')
    return "<html><body><div>" + escaped.replace("\n", "<br>\n") + "</div></body></html>"


def _auth_results(m: Message) -> str:
    dom = m.from_addr.split("@")[1]
    a = m.auth
    return (
        f"relay.mimecast.com; spf={a['spf']} (relay.mimecast.com: domain of {m.env_from} designates "
        f"{m.sender_ip} as permitted sender) smtp.mailfrom={m.env_from}; dkim={a['dkim']} header.d={dom}; "
        f"dmarc={a['dmarc']} (p=NONE sp=NONE) header.from={dom}"
    )


def headers(st: State, m: Message, recipient: str | None = None) -> list[tuple[str, str]]:
    d = m.received
    hdrs = []
    if recipient or m.route != "outbound":
        hdrs.append(
            (
                "Received",
                f"from eu-smtp-delivery-1.mimecast.com (10.7.3.21) by {ORG_EGRESS[1]} with ESMTPS "
                f"id {m.idx:08x}; {format_datetime(d + timedelta(seconds=3))}",
            )
        )
    hdrs.append(
        (
            "Received",
            f"from {m.sender_host} ({m.sender_host} [{m.sender_ip}]) by relay.mimecast.com with ESMTP "
            f"(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384) id mimecast-{m.idx:06d}; {format_datetime(d)}",
        )
    )
    hdrs.append(
        (
            "Received",
            f"from [10.0.{m.idx % 250}.{m.idx % 200 + 10}] by {m.sender_host} with ESMTPSA; {format_datetime(m.sent)}",
        )
    )
    hdrs += [
        ("Authentication-Results", _auth_results(m)),
        ("Received-SPF", f"{m.auth['spf']} (relay.mimecast.com: domain of {m.env_from})"),
    ]
    if m.auth["dkim"] != "none":
        hdrs.append(
            (
                "DKIM-Signature",
                f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={m.from_addr.split('@')[1]}; s=s1; "
                "h=from:to:subject:date; bh=Zm9vYmFy; b=c2ltdWxhdGVk",
            )
        )
    hdrs += [
        ("X-MC-Unique", f"sim-{m.idx:06d}-{st.seed}"),
        ("X-Mimecast-Spam-Score", str(m.spam_score)),
        ("From", f'"{m.from_name}" <{m.from_addr}>'),
        ("To", ", ".join(f'"{n}" <{a}>' for n, a in m.to)),
    ]
    if m.cc:
        hdrs.append(("Cc", ", ".join(f'"{n}" <{a}>' for n, a in m.cc)))
    if m.reply_to:
        hdrs.append(("Reply-To", m.reply_to))
    hdrs += [
        ("Subject", m.subject),
        ("Date", format_datetime(m.sent)),
        ("Message-ID", m.mime_id),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/mixed; boundary="=_sim_boundary"'),
    ]
    return hdrs


def transmission_info(st: State, m: Message) -> str:
    return "<pre>" + html.escape("\n".join(f"{k}: {v}" for k, v in headers(st, m))) + "</pre>"


def rfc822(st: State, m: Message, delivered: bool = True) -> bytes:
    lines = [f"{k}: {v}" for k, v in headers(st, m, recipient=m.to[0][1] if delivered and m.to else None)]
    lines.append("")
    lines.append("--=_sim_boundary")
    lines.append('Content-Type: multipart/alternative; boundary="=_sim_alt"')
    lines.append("")
    lines.append("--=_sim_alt")
    lines.append("Content-Type: text/plain; charset=utf-8")
    lines.append("")
    lines.append(text_body(m, delivered))
    lines.append("--=_sim_alt")
    lines.append("Content-Type: text/html; charset=utf-8")
    lines.append("")
    lines.append(html_body(m, delivered))
    lines.append("--=_sim_alt--")
    for key in m.attachments:
        a = st.attachments[key]
        lines.append("--=_sim_boundary")
        lines.append(f'Content-Type: {a.mime}; name="{a.filename}"')
        lines.append(f'Content-Disposition: attachment; filename="{a.filename}"')
        lines.append("Content-Transfer-Encoding: base64")
        lines.append("")
        b64 = base64.encodebytes(a.data).decode().rstrip("\n")
        lines.append(b64)
    lines.append("--=_sim_boundary--")
    lines.append("")
    return "\r\n".join("\r\n".join(x.split("\n")) for x in lines).encode()
