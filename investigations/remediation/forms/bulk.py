"""The request forms of remediate_messages and restore_messages: which copies (a mailbox and the
message's Message-ID, one a line), the window Mimecast searches them in, the reason and the ticket."""

from datetime import datetime

from django import forms
from django.utils import timezone

from investigations.core.validators import TicketField, datetime_field, is_email, is_message_id
from investigations.remediation.forms import lines_field, one_request_list, remediation_window_error, request_reason
from investigations.remediation.kinds.bulk import MAX_TARGETS
from investigations.remediation.services import default_window

LINE_MAX = 320 + 1000 + 300
SUBJECT_MAX = 300
_FMT = "%Y-%m-%dT%H:%M"


def parse_target(line: str) -> dict | None:
    """A line "mailbox|<Message-ID>" (optionally "|subject" after it) as a target, or None when it is not
    one. The Message-ID keeps its angle brackets, as Mimecast wants them."""
    mailbox, _, rest = (line or "").strip().partition("|")
    mailbox, rest = mailbox.strip().lower(), rest.strip()
    if rest.startswith("<"):
        end = rest.find(">")
        message_id, subject = (rest[: end + 1], rest[end + 1 :]) if end > 0 else (rest, "")
    else:
        message_id, _, subject = rest.partition("|")
    message_id, subject = message_id.strip(), subject.strip().removeprefix("|").strip()
    if not (is_email(mailbox) and message_id and is_message_id(message_id)):
        return None
    bracketed = f"<{message_id.strip('<>')}>"
    return {"mailbox": mailbox, "message_id": bracketed, "subject": subject[:SUBJECT_MAX], "from": ""}


def _line(target: dict) -> str:
    line = f"{target.get('mailbox', '')}|{target.get('message_id', '')}"
    return f"{line}|{target['subject']}" if target.get("subject") else line


class RemediateMessagesForm(forms.Form):
    targets = lines_field(
        "Copies to remove (one mailbox|<Message-ID> a line)",
        most=MAX_TARGETS,
        longest=LINE_MAX,
        rows=6,
        help_text="Pick them with the checkboxes of a search page; the preview shows each one as Message Finder "
        "sees it now. One Mimecast incident per line.",
    )
    start = datetime_field("From date (default: one month back)")
    end = datetime_field("To date (default: end of today)")
    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    def clean_targets(self):
        targets, seen = [], set()
        for n, line in enumerate(self.cleaned_data["targets"].splitlines(), start=1):
            if not line.strip():
                continue
            target = parse_target(line) if len(line) <= LINE_MAX else None
            if target is None:
                shown = line.strip() if len(line.strip()) <= 60 else line.strip()[:60] + "…"
                raise forms.ValidationError(
                    f"Line {n} (“{shown}”) is not mailbox|<Message-ID>, e.g. bob@example.com|<abc@mail.example>."
                )
            key = (target["mailbox"], target["message_id"])
            if key not in seen:
                seen.add(key)
                targets.append(target)
        return one_request_list(
            targets,
            most=MAX_TARGETS,
            empty="Give at least one mailbox|<Message-ID>.",
            too_many="{count} copies: one request takes at most {most}. Split them into several.",
        )

    def clean(self):
        data = super().clean()
        if "start" in self.errors or "end" in self.errors:
            return data
        now = timezone.now()
        default_start, default_end = default_window(now)
        start, end = data.get("start") or default_start, data.get("end") or default_end
        problem = remediation_window_error(start, end, now=now)
        if problem:
            self.add_error(*problem)
            return data
        data["start"], data["end"] = start, end
        return data

    @classmethod
    def initial_from_query(cls, params) -> dict:
        """`target` repeated in the query (a page's "Remediate selected"); anything that is not a
        mailbox|Message-ID is left out, never an error."""
        lines = []
        for value in params.getlist("target")[: MAX_TARGETS * 2]:
            target = parse_target(value) if len(value or "") <= LINE_MAX else None
            if target is not None and _line(target) not in lines:
                lines.append(_line(target))
        return {"targets": "\n".join(lines[:MAX_TARGETS])} if lines else {}

    @classmethod
    def initial_from_request(cls, req) -> dict:
        params = req.params or {}

        def shown(value):
            return timezone.localtime(datetime.fromisoformat(value)).strftime(_FMT) if value else ""

        return {
            "targets": "\n".join(_line(t) for t in params.get("targets") or []),
            "start": shown(params.get("start")),
            "end": shown(params.get("end")),
            "reason": req.reason,
            "ticket_id": req.ticket_id,
        }

    def to_values(self) -> dict:
        data = self.cleaned_data
        params = {"targets": data["targets"], "start": data["start"].isoformat(), "end": data["end"].isoformat()}
        return {"params": params, "reason": data["reason"], "ticket_id": data.get("ticket_id") or ""}


class RestoreMessagesForm(forms.Form):
    """An undo is drafted from the request it undoes (its removed copies and their restore codes);
    nobody types one, so only the reason and the ticket are fields."""

    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    @classmethod
    def initial_from_query(cls, params) -> dict:
        return {}

    @classmethod
    def initial_from_request(cls, req) -> dict:
        return {"reason": req.reason, "ticket_id": req.ticket_id}

    def to_values(self) -> dict:
        data = self.cleaned_data
        return {"reason": data["reason"], "ticket_id": data.get("ticket_id") or ""}
