"""The request forms of a sender block and of its undo. Bad input becomes a message next to its field;
a bad prefill from a link is dropped, never a 500."""

from django import forms

from investigations.core.validators import EmailOrDomainField, TicketField, is_domain, is_email
from investigations.models import RemediationRequest
from investigations.remediation.forms import request_reason
from investigations.remediation.kinds import kind_for
from investigations.remediation.kinds.blocked_sender import ADDRESS, DOMAIN
from investigations.remediation.selectors import remediation_request_detail

Kind = RemediationRequest.Kind
State = RemediationRequest.State

TARGET_CHOICES = [(ADDRESS, "This address only"), (DOMAIN, "The whole domain")]
FROM_PART_CHOICES = [
    ("both", "Envelope sender and From header"),
    ("envelope_from", "Envelope sender only"),
    ("header_from", "From header only"),
]


def _one(params, name, *, longest=254):
    """One query value, trimmed; an over-long one is dropped rather than cut into something else."""
    value = (params.get(name) or "").strip()
    return value if len(value) <= longest else ""


class BlockSenderForm(forms.Form):
    target_type = forms.ChoiceField(label="Block", choices=TARGET_CHOICES, initial=ADDRESS)
    value = EmailOrDomainField(label="Sender address or domain", required=True)
    from_part = forms.ChoiceField(label="Match the sender in", choices=FROM_PART_CHOICES, initial="both")
    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    def clean(self):
        data = super().clean()
        target_type, value = data.get("target_type"), data.get("value")
        if not target_type or not value:
            return data
        if target_type == ADDRESS and not is_email(value):
            self.add_error("value", "To block one address, give the address (name@example.com).")
        elif target_type == DOMAIN and not is_domain(value):
            domain = value.rsplit("@", 1)[1]
            self.add_error("value", f"To block the whole domain, give the domain only ({domain}).")
        return data

    @classmethod
    def initial_from_query(cls, params) -> dict:
        """?value=&target_type= from a start point. target_type=email_domain with an address blocks
        its domain: the message page links "Block domain" with the sender's address as it has it."""
        initial = {}
        target_type = _one(params, "target_type", longest=16)
        if target_type in (ADDRESS, DOMAIN):
            initial["target_type"] = target_type
        value = _one(params, "value").lower()
        if target_type == DOMAIN and is_email(value):
            value = value.rsplit("@", 1)[1]
        if is_email(value) or is_domain(value):
            initial["value"] = value
            initial.setdefault("target_type", ADDRESS if is_email(value) else DOMAIN)
        return initial

    def to_values(self) -> dict:
        data = self.cleaned_data
        return {
            "params": {"target_type": data["target_type"], "value": data["value"], "from_part": data["from_part"]},
            "reason": data["reason"],
            "ticket_id": data.get("ticket_id", ""),
        }


class UnblockSenderForm(forms.Form):
    restore_of = forms.IntegerField(
        label="Undo the block request #", min_value=1, max_value=2**31 - 1, widget=forms.NumberInput
    )
    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    def clean_restore_of(self):
        source = remediation_request_detail(request_id=self.cleaned_data["restore_of"])
        if source is None:
            raise forms.ValidationError("There is no request with that number.")
        if source.kind != Kind.BLOCK_SENDER or source.state != State.SUCCEEDED:
            raise forms.ValidationError("Only a block that succeeded can be undone.")
        params = kind_for(Kind.BLOCK_SENDER).undo_params(source)
        if not params["policy_ids"]:
            raise forms.ValidationError("That block created no policy in Mimecast: there is nothing to remove.")
        self.undo_params = params
        return source

    @classmethod
    def initial_from_query(cls, params) -> dict:
        number = _one(params, "restore_of", longest=10)
        return {"restore_of": int(number)} if number.isdigit() and 0 < int(number) < 2**31 else {}

    def to_values(self) -> dict:
        data = self.cleaned_data
        return {
            "params": self.undo_params,
            "restore_of": data["restore_of"],
            "reason": data["reason"],
            "ticket_id": data.get("ticket_id", ""),
        }
