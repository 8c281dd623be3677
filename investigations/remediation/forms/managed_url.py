"""The request forms of the managed-URL kinds: block or permit URLs, and remove managed URLs."""

from urllib.parse import urlsplit

from django import forms

from investigations.core.validators import TextField, TicketField, is_domain, is_ip, is_token, is_url
from investigations.remediation.forms import lines_field, one_request_list, request_reason

MAX_URLS = 50
# A request item keeps its URL in a column of this size.
URL_MAX = 2048
ID_MAX = 128
ACTIONS = [("block", "Block"), ("permit", "Permit")]
MATCH_TYPES = [("explicit", "This URL only (explicit)"), ("domain", "Its whole domain")]
_PERMIT_ONLY = "Mimecast applies this option to permitted URLs only; untick it, or choose Permit."


class _LinesWidget(forms.Textarea):
    """A textarea that shows a stored list one value a line (an edit starts from the stored params)."""

    def format_value(self, value):
        if isinstance(value, list | tuple):
            value = "\n".join(str(v) for v in value)
        return super().format_value(value)


def _lines(value, *, unique=True):
    """The non-blank lines, trimmed, in the order typed, with their line numbers; each once if ``unique``."""
    seen, lines = set(), []
    for number, line in enumerate((value or "").splitlines(), start=1):
        line = line.strip()
        if line and not (unique and line in seen):
            seen.add(line)
            lines.append((number, line))
    return lines


def _has_host(url):
    host = urlsplit(url).hostname or ""
    return is_domain(host) or is_ip(host)


def url_problem(url):
    """Why ``url`` cannot be a managed URL, or "" when it can."""
    if len(url) > URL_MAX:
        return f"is longer than {URL_MAX} characters"
    if not is_url(url):
        return "is not a full URL starting with http:// or https://"
    if "#" in url:
        return "has a #fragment, which Mimecast refuses in a managed URL; remove it (the part from # on)"
    try:
        if not _has_host(url):
            return "has no valid host name"
    except ValueError:
        return "is not a valid URL"
    return ""


def _lines_field(label, *, longest, **options):
    return lines_field(label, most=MAX_URLS, longest=longest, widget=_LinesWidget, **options)


def _request_lines(value, *, empty, too_many):
    """The numbered lines of a `_lines_field` one request acts on: each once, at least one, at most MAX_URLS."""
    return one_request_list(_lines(value), most=MAX_URLS, empty=empty, too_many=too_many)


class ManageUrlForm(forms.Form):
    urls = _lines_field(
        f"URLs (one per line, at most {MAX_URLS})",
        longest=URL_MAX,
        help_text="Each a full http:// or https:// URL, without a #fragment (Mimecast refuses one).",
    )
    action = forms.ChoiceField(label="Action", choices=ACTIONS, initial="block")
    match_type = forms.ChoiceField(
        label="Match",
        choices=MATCH_TYPES,
        initial="explicit",
        help_text="A domain entry covers every URL of the domain and of its subdomains.",
    )
    comment = TextField(label="Comment kept in Mimecast (optional; the reason otherwise)", max_length=150)
    disable_rewrite = forms.BooleanField(label="Do not rewrite the URL (permit only)", required=False)
    disable_user_awareness = forms.BooleanField(label="No user awareness challenge (permit only)", required=False)
    disable_log_click = forms.BooleanField(label="Do not log clicks", required=False)
    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    @classmethod
    def initial_from_query(cls, params):
        """Prefill from a start point (?url=...&url=...&action=block); values that could not be
        requested are left out, and a #fragment is dropped (the form shows what remains)."""
        urls = []
        for raw in params.getlist("url")[: MAX_URLS * 2]:
            url = str(raw).strip().split("#", 1)[0]
            if url and not url_problem(url) and url not in urls:
                urls.append(url)
        initial = {"urls": "\n".join(urls[:MAX_URLS])}
        for name, choices in (("action", ACTIONS), ("match_type", MATCH_TYPES)):
            if params.get(name) in dict(choices):
                initial[name] = params.get(name)
        return initial

    def clean_urls(self):
        lines = _request_lines(
            self.cleaned_data.get("urls"),
            empty="Give at least one URL.",
            too_many="At most {most} URLs in one request; split the list.",
        )
        problems = [f"Line {number} {problem}." for number, url in lines if (problem := url_problem(url))]
        if problems:
            raise forms.ValidationError(problems[:5], code="invalid")
        return [url for _, url in lines]

    def clean(self):
        data = super().clean()
        if data.get("action") == "block":
            for name in ("disable_rewrite", "disable_user_awareness"):
                if data.get(name):
                    self.add_error(name, _PERMIT_ONLY)
        return data

    def to_values(self):
        data = self.cleaned_data
        params = {
            "urls": data["urls"],
            "action": data["action"],
            "match_type": data["match_type"],
            "comment": data.get("comment") or "",
            "disable_rewrite": bool(data.get("disable_rewrite")),
            "disable_user_awareness": bool(data.get("disable_user_awareness")),
            "disable_log_click": bool(data.get("disable_log_click")),
        }
        return {"params": params, "reason": data["reason"], "ticket_id": data.get("ticket_id") or ""}


class RemoveManagedUrlForm(forms.Form):
    managed_url_ids = _lines_field(f"Managed URL ids (one per line, at most {MAX_URLS})", longest=ID_MAX)
    urls = _lines_field(
        "The URLs they manage (optional, one per line, in the same order)", longest=URL_MAX, required=False
    )
    reason = request_reason()
    ticket_id = TicketField(label="Ticket id (optional)")

    @classmethod
    def initial_from_query(cls, params):
        """Prefill from ?managed_url_id=...&url=... (ids that are not Mimecast tokens are left out)."""
        ids = [str(i).strip() for i in params.getlist("managed_url_id")[:MAX_URLS]]
        ids = [i for i in ids if i and len(i) <= ID_MAX and is_token(i)]
        urls = [str(u).strip() for u in params.getlist("url")[:MAX_URLS]]
        urls = [u for u in urls if u and not url_problem(u)]
        return {"managed_url_ids": "\n".join(ids), "urls": "\n".join(urls) if len(urls) == len(ids) else ""}

    def clean_managed_url_ids(self):
        lines = _request_lines(
            self.cleaned_data.get("managed_url_ids"),
            empty="Give the id of at least one managed URL.",
            too_many="At most {most} managed URLs in one request.",
        )
        bad = [number for number, value in lines if len(value) > ID_MAX or not is_token(value)]
        if bad:
            numbers = ", ".join(str(n) for n in bad[:5])
            raise forms.ValidationError(f"Line {numbers}: not a managed URL id as Mimecast gives them.", code="invalid")
        return [value for _, value in lines]

    def clean_urls(self):
        # Not made unique: the URLs pair with the ids by position.
        lines = [url for _, url in _lines(self.cleaned_data.get("urls"), unique=False)]
        problems = [f"{url[:80]} {problem}." for url in lines if (problem := url_problem(url))]
        if problems:
            raise forms.ValidationError(problems[:5], code="invalid")
        return lines

    def clean(self):
        data = super().clean()
        ids, urls = data.get("managed_url_ids"), data.get("urls")
        if ids and urls and len(urls) != len(ids):
            self.add_error("urls", "Give one URL per id, in the same order, or none.")
        return data

    def to_values(self):
        data = self.cleaned_data
        params = {"managed_url_ids": data["managed_url_ids"], "urls": data.get("urls") or []}
        return {"params": params, "reason": data["reason"], "ticket_id": data.get("ticket_id") or ""}
