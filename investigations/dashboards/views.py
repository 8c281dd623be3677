"""The dashboards: home (what each role looks at first: the quick search, the requests panel the page
polls, recent activity) and its summaries. Thin views: check, call a service or selector, render."""

from django.contrib.auth.decorators import login_required

from investigations.accounts import selectors as account_selectors
from investigations.accounts.services import break_glass_sign_ins_open
from investigations.core.htmx import render_page
from investigations.core.links import portal_url
from investigations.core.roles import user_can
from investigations.core.routes import Routes
from investigations.dashboards import selectors, services
from investigations.dashboards.charts import bar_chart, column_chart
from investigations.oversight import selectors as oversight_selectors
from investigations.remediation import selectors as remediation_selectors
from investigations.workspace.forms import QuickSearchForm
from investigations.workspace.selectors import recent_searches

routes = Routes()

# The reason and ticket the workspace remembers from the last search (its views write this key):
# the quick search starts from them.
_WORKSPACE_REASON = "workspace_last_reason"


def _last_reason(request):
    remembered = request.session.get(_WORKSPACE_REASON) or {}
    return {"reason": remembered.get("reason", ""), "ticket": remembered.get("ticket", "")}


def _home_requests(user):
    """Pending approvals for approvers and recent requests with their state, for the live panel."""
    context = {}
    if user_can(user, "approve"):
        context["pending_approvals"] = remediation_selectors.remediation_approval_queue()[:10]
    if user_can(user, "request_remediation"):
        context["recent_requests"] = remediation_selectors.remediation_requests(limit=10)
    return context


@routes("", name="home")
@login_required
def home(request):
    if request.htmx and request.GET.get("panel") == "requests":
        # The live-status panel polls this; the same role checks apply inside _home_requests.
        return render_page(request, "dashboards/home.html", _home_requests(request.user), partial="home-requests")
    context = {
        "recent_activity": account_selectors.audit_events_for_user(user=request.user),
        "approvals_url": portal_url("remediation-approvals"),
        **_home_requests(request.user),
    }
    if user_can(request.user, "investigate"):
        context["recent_searches"] = recent_searches(user=request.user)
        context["quick_form"] = QuickSearchForm(initial=_last_reason(request))
    if user_can(request.user, "review_break_glass") or user_can(request.user, "break_glass"):
        # Approvers review break-glass actions and admins carry them out: both see a missed review.
        rules = oversight_selectors.approval_rules_current()
        context["break_glass_overdue"] = oversight_selectors.break_glass_overdue_count(rules=rules)
        context["break_glass_review_hours"] = rules.break_glass_review_hours
    if user_can(request.user, "admin_settings"):
        context["break_glass_sign_ins"] = break_glass_sign_ins_open()
    context.update(_home_dashboard(request.user, context.get("pending_approvals")))
    return render_page(request, "dashboards/home.html", context)


def _home_dashboard(user, queue):
    """Each role's summaries: read from our own records, so they cost no Mimecast call (the threat
    counts, which do, come in a section of their own after the page has painted)."""
    context = {}
    if user_can(user, "work_cases"):
        context["open_cases"] = selectors.open_cases(user=user)
    if queue is not None:
        tally = services.approval_queue_ages(queue=queue)
        context["queue_chart"] = bar_chart(chart_id="chart-queue-ages", title="Waiting for a decision", tally=tally)
        context["decision_times"] = services.decision_times()
    if user_can(user, "admin_settings"):
        context["connection_health"] = services.connection_health()
        context["rate_headroom"] = services.rate_headroom()
        context["checkpoint"] = services.audit_checkpoint_age()
    return context


# ------------------------------------------------------------------------------- the charts


def _threat_charts(sections):
    """[(chart or None, problem or None)] for the TTP logs, in the order the services name them."""
    out = []
    for log in services.THREAT_LOGS:
        tally, problem = sections[log.key]
        chart = column_chart(chart_id=f"chart-{log.key}", title=log.title, tally=tally) if tally else None
        out.append((chart, problem))
    return out


@routes("dashboards/threats/", name="dashboard-threats", capability="investigate", methods=["GET"])
def dashboard_threats(request):
    """The last 7 days' threats from the TTP logs: home loads it after painting, as its own section."""
    threats = _threat_charts(services.threat_counts())
    # A rate-limited count asks again by itself once Mimecast's wait is over (the whole section, once).
    retry = next((problem for _chart, problem in threats if problem and problem.rate_limited), None)
    context = {"threats": threats, "threat_days": services.THREAT_DAYS, "retry": retry}
    return render_page(request, "dashboards/threats.html", context, partial="threats")


@routes("dashboards/remediation/", name="remediation-dashboard", capability="read_requests", methods=["GET"])
def remediation_dashboard(request):
    context = {
        "by_state": bar_chart(
            chart_id="chart-requests-by-state", title="Requests by state", tally=services.requests_by_state()
        ),
        "dwell": bar_chart(
            chart_id="chart-dwell",
            title="Dwell time: from delivery to removal",
            tally=services.remediation_dwell(),
        ),
        "cleaned": column_chart(
            chart_id="chart-cleaned", title="Mailboxes cleaned per week", tally=services.mailboxes_cleaned_by_week()
        ),
        "weeks": services.REMEDIATION_WEEKS,
    }
    return render_page(request, "dashboards/remediation.html", context)
