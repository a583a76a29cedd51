"""Pages for privacy officers: timeline, chain verification, flags, a person's report, reconciliation.

Role ``privacy-officer`` only. Filters that name a person travel in a POST body; every read
of the log is itself logged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, request

from audit import events
from contract.errors import GatewayError
from gateway.current import node_of
from gateway.repositories import audit_log
from gateway.services import auditing, flag_reviews, lookup, reconcile
from gateway.web import disclosure_report, forms, onetime, present, timeline
from gateway.web.oidc import PRIVACY_OFFICER
from gateway.web.security import secure_headers, style_hashes
from gateway.web.views import login_required, page, refusal_text

bp = Blueprint("privacy", __name__, url_prefix="/privacy")
OUTCOMES = events.OUTCOMES  # the audit-outcome CodeSystem's labels


@bp.before_request
def _only_privacy_officers() -> Response | None:
    return login_required(PRIVACY_OFFICER)


def actor() -> audit_log.Actor:
    return audit_log.Actor(
        actor_id=g.user["actor_id"], role=PRIVACY_OFFICER, client_id="web", access_point=request.remote_addr or ""
    )


def labels() -> dict[str, Any]:
    return {
        "actions_nl": events.ACTIONS,
        "outcomes_nl": OUTCOMES,
        "reasons_nl": present.REASONS_NL,
        "purposes_nl": present.PURPOSES_NL,
        "grounds_nl": present.LEGAL_GROUNDS_NL,
        "date_nl": present.date_nl,
        "partners": [o for o, _u, _k in node_of().partners.list()],
    }


@bp.get("/")
def index() -> Response:
    return page("privacy_home.html")


@bp.get("/logboek")
def timeline_form() -> Response:
    return page("timeline.html", values={}, **labels())


@bp.post("/logboek")
def timeline_search() -> Response:
    form = request.form
    errors: forms.Errors = []
    bsn_text = forms.text(form, "persoon", max_len=20)
    bsn = forms.bsn_field(bsn_text) if bsn_text else ""
    if bsn is None:
        errors.append(("persoon", "Dit BSN klopt niet: negen cijfers die de elfproef doorstaan."))
    since_t, until_t = forms.text(form, "van", max_len=10), forms.text(form, "tot", max_len=10)
    since, until = forms.a_date(since_t) if since_t else None, forms.a_date(until_t) if until_t else None
    if since_t and since is None:
        errors.append(("van", "Vul een geldige datum in (jjjj-mm-dd)."))
    if until_t and until is None:
        errors.append(("tot", "Vul een geldige datum in (jjjj-mm-dd)."))
    purpose, outcome = form.get("doel", ""), form.get("uitkomst", "")
    values = {
        k: forms.text(form, k, max_len=130)
        for k in ("persoon", "professional", "partner", "doel", "uitkomst", "van", "tot")
    }
    if errors:
        return page("timeline.html", 422, errors=errors, values=values, **labels())
    f = timeline.Filters(
        subject=bsn or "",
        agent=forms.text(form, "professional", max_len=130),
        partner=forms.text(form, "partner", max_len=64),
        purpose=purpose if purpose in present.PURPOSES_NL else "",
        outcome=outcome if outcome in OUTCOMES else "",
        since=since,
        until=until,
    )
    rows, cut = timeline.search(node_of(), f, actor())
    return page("timeline.html", values=values, rows=rows, cut=cut, searched=True, **labels())


@bp.get("/verificatie")
def verification() -> Response:
    result = audit_log.verify(node_of())
    return page("verify.html", result=result)


@bp.get("/signalen")
def flagged() -> Response:
    node = node_of()
    since = lookup.today_of(node) - timedelta(days=30)
    flags = timeline.flags(node, actor(), since)
    handled = flag_reviews.handled(node, [e.event_id for f in flags for e in f.entries])
    return page("flags.html", flags=flags, since=since, handled=handled, **labels())


@bp.post("/signalen/<event_id>/afgehandeld")
def flag_handled(event_id: str) -> Response:
    """Mark a flag handled (who, when, a note), audited; then back to the flags (PRG)."""
    repeat = onetime.claim()
    if repeat is not None:
        return repeat
    try:
        flag_reviews.mark_handled(node_of(), event_id, actor(), forms.text(request.form, "notitie", max_len=500))
    except GatewayError:
        onetime.release()
        raise
    return onetime.done("/privacy/signalen")


@bp.get("/logboek/<event_id>")
def entry(event_id: str) -> Response:
    """Every field of one log entry, with its place in the chain (reading it is logged)."""
    node = node_of()
    found = flag_reviews.entry(node, event_id, actor())
    review = flag_reviews.handled(node, [event_id]).get(event_id)
    return page("entry.html", e=found, review=review, **labels())


@bp.get("/rapport")
def report_form() -> Response:
    return page("report_form.html")


@bp.post("/rapport")
def report() -> Response:
    bsn = forms.bsn_field(forms.text(request.form, "persoon", max_len=20))
    if bsn is None:
        return page(
            "report_form.html",
            422,
            errors=[("persoon", "Dit BSN klopt niet: negen cijfers die de elfproef doorstaan.")],
        )
    html = disclosure_report.render(auditing.disclosure_report(node_of(), bsn, actor()))
    return secure_headers(Response(html, mimetype="text/html"), style_hashes(html))


@bp.get("/afstemming")
def reconcile_form() -> Response:
    return page("reconcile.html", **labels())


@bp.post("/afstemming")
def reconcile_run() -> Response:
    node = node_of()
    partners = labels()["partners"]
    chosen = request.form.get("partner", "")
    since_t = forms.text(request.form, "van", max_len=10)
    since = forms.a_date(since_t) if since_t else None
    if since_t and since is None:
        return page("reconcile.html", 422, errors=[("van", "Vul een geldige datum in (jjjj-mm-dd).")], **labels())
    targets = partners if chosen in ("", "alle") else [p for p in partners if p == chosen]
    results = []
    for partner in targets:
        try:
            compared, diffs = reconcile.reconcile(node, partner, since.isoformat() if since else None)
            results.append({"partner": partner, "compared": compared, "diffs": diffs, "error": None})
        except GatewayError as exc:
            results.append({"partner": partner, "compared": 0, "diffs": [], "error": refusal_text(exc)[1]})
    return page("reconcile.html", results=results, **labels())
