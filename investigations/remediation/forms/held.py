"""The request forms of release_held and reject_held: which held messages, and for a rejection, the
reason type, the words to the sender and whether to notify them."""

from django import forms

from investigations.core.validators import TextField, TicketField, is_mimecast_id
from investigations.remediation.forms import lines_field, one_request_list, request_reason
from investigations.remediation.kinds.held import REJECT_REASON_TYPES

# One request acts on at most this many held messages: one Mimecast call each, and an approver reads
# every one of them in the preview.
MAX_HELD_IDS = 100
# Real held-message ids are a few hundred characters; this bounds the pasted list as a whole.
HELD_ID_MAX = 1024
MESSAGE_MAX = 1000


class _HeldForm(forms.Form):
    held_ids = lines_field(
        "Held messages (one Mimecast id a line)",
        most=MAX_HELD_IDS,
        longest=HELD_ID_MAX,
        help_text="Pick them on the held-queue page; the preview shows each one as Mimecast holds it.",
    )
    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    def clean_held_ids(self):
        ids = []
        for line in self.cleaned_data["held_ids"].splitlines():
            value = line.strip()
            if not value or value in ids:
                continue
            if len(value) > HELD_ID_MAX or not is_mimecast_id(value):
                shown = value if len(value) <= 40 else value[:40] + "…"
                raise forms.ValidationError(f"“{shown}” is not a Mimecast message id (they start with eN).")
            ids.append(value)
        return one_request_list(
            ids,
            most=MAX_HELD_IDS,
            empty="Give at least one held message.",
            too_many="{count} messages: one request takes at most {most}. Split them into several.",
        )

    @classmethod
    def initial_from_query(cls, params) -> dict:
        """held_id repeated in the query (the queue's "Release selected"); anything that is not a
        message id is left out, never an error."""
        ids = []
        for value in params.getlist("held_id")[: MAX_HELD_IDS * 2]:
            value = (value or "").strip()
            if value and len(value) <= HELD_ID_MAX and is_mimecast_id(value) and value not in ids:
                ids.append(value)
        return {"held_ids": "\n".join(ids[:MAX_HELD_IDS])} if ids else {}

    @classmethod
    def initial_from_params(cls, params: dict) -> dict:
        """The form's values for a stored request's params (editing a draft)."""
        return {"held_ids": "\n".join(params.get("held_ids") or [])}

    def _params(self) -> dict:
        return {"held_ids": self.cleaned_data["held_ids"]}

    def to_values(self) -> dict:
        data = self.cleaned_data
        return {"params": self._params(), "reason": data["reason"], "ticket_id": data.get("ticket_id") or ""}


class ReleaseHeldForm(_HeldForm):
    pass


class RejectHeldForm(_HeldForm):
    reason_type = forms.ChoiceField(
        label="Reason for the rejection",
        choices=REJECT_REASON_TYPES,
        initial=REJECT_REASON_TYPES[0][0],
    )
    notify = forms.BooleanField(label="Send the sender a rejection notice", required=False)
    message = TextField(
        label="Words to the sender (with the notice)",
        multiline=True,
        max_length=MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        data = super().clean()
        if data.get("message") and not data.get("notify"):
            self.add_error(
                "message", "The sender reads these words only with a notice: tick the box or leave it empty."
            )
        return data

    @classmethod
    def initial_from_params(cls, params: dict) -> dict:
        return {
            **super().initial_from_params(params),
            "reason_type": params.get("reason_type") or REJECT_REASON_TYPES[0][0],
            "notify": bool(params.get("notify")),
            "message": params.get("message") or "",
        }

    def _params(self) -> dict:
        data = self.cleaned_data
        return {
            **super()._params(),
            "reason_type": data["reason_type"],
            "message": data.get("message") or "",
            "notify": bool(data.get("notify")),
        }
