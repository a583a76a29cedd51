"""Pages for professionals: find a client, the family, consent, summaries, safety disclosure.

Every page is role ``professional``. A client is found with a POST (BSN or name in the
body, never in a URL); after that, URLs name the person by the register's opaque id.
Views read the form, call one use case (``services.consents``, ``services.exchange``,
``services.safety``) and render; refusals show the refusal's own Dutch text.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, g, request
from werkzeug.datastructures import MultiDict

from contract.errors import GatewayError
from gateway.current import node_of
from gateway.fhir import fhir_in
from gateway.node import Node
from gateway.repositories import audit_log
from gateway.services import consents, exchange, lookup, registry, safety
from gateway.services import locate as locating
from gateway.web import forms, keep_typed, onetime, orgs, present
from gateway.web import receipt as receipt_page
from gateway.web.oidc import PROFESSIONAL
from gateway.web.security import secure_headers, style_hashes
from gateway.web.views import cfg, login_required, page, refusal_text

bp = Blueprint("prof", __name__)


@bp.before_request
def _only_professionals() -> Response | None:
    return login_required(PROFESSIONAL)


def actor() -> audit_log.Actor:
    """The logged-in professional as the audit's actor (as ``X-Practitioner`` on the API)."""
    return audit_log.Actor(
        actor_id=g.user["actor_id"],
        role=PROFESSIONAL,
        client_id="web",
        access_point=request.remote_addr or "",
        name=str(g.user.get("name") or "")[:100],
    )


def _restored() -> Any:
    """The form typed before the session timed out, when its page is opened after login."""
    kept = keep_typed.take(node_of(), request.path)
    if kept is None:
        return None
    g.restored = True
    return MultiDict([(k, v) for k, vs in kept.items() for v in vs])


def the_form() -> Any:
    return g.get("restored_form") or request.form


def _resumed(pid: str, post: Callable[[str], Response], blank: Callable[[str], Response]) -> Response:
    """A form page: the form typed before the session timed out is sent on to ``post`` to be
    shown again as it was; otherwise the ``blank`` form."""
    kept = _restored()
    if kept is None:
        return blank(pid)
    g.restored_form = kept
    return post(pid)


def form_page(template: str, pid: str, status: int, **extra: Any) -> Response:
    """A form about person ``pid`` that names trusted partners and categories of data."""
    return page(
        template,
        status,
        person=lookup.person(node_of(), pid),
        partners=partners(),
        categories=forms.categories(),
        **labels(),
        **extra,
    )


def _unfinished(form_page: Callable[..., Response], pid: str, values: Any, errors: forms.Errors) -> Response | None:
    """The form again, when it is restored after login (never sent unasked) or has errors (422)."""
    if g.get("restored"):
        return form_page(pid, 200, values=values, restored=True)
    if errors:
        return form_page(pid, 422, errors=errors, values=values)
    return None


def partners() -> list[str]:
    """Org ids of the trusted organisations, by listed name (gateway.federation.directory)."""
    return [e.org_id for e in orgs.partners()]


def labels() -> dict[str, Any]:
    return {
        "categories_nl": present.CATEGORIES_NL,
        "purposes_nl": present.PURPOSES_NL,
        "titles": present.TITLES,
        "purpose_titles": present.PURPOSE_TITLES,
        "grounds_nl": present.LEGAL_GROUNDS_NL,
        "org_types_nl": present.ORG_TYPES_NL,
        "telecom_nl": present.TELECOM_NL,
        "party_kinds_nl": present.PARTY_KINDS_NL,
    }


# --- finding a client ----------------------------------------------------------------------


@bp.get("/clienten")
def search_form() -> Response:
    return page("search.html")


@bp.post("/clienten/zoeken")
def search() -> Response:
    bsn_text, name = forms.text(request.form, "bsn", max_len=20), forms.text(request.form, "naam", max_len=100)
    errors: forms.Errors = []
    if not bsn_text and not name:
        errors.append(("bsn", "Vul een BSN of een naam in."))
    bsn = forms.bsn_field(bsn_text) if bsn_text else None
    if bsn_text and bsn is None:
        errors.append(("bsn", "Dit BSN klopt niet: negen cijfers die de elfproef doorstaan."))
    if name and len(name) < 2:
        errors.append(("naam", "Vul minstens twee letters van de naam in."))
    if errors:
        return page("search.html", 422, errors=errors, naam=name)
    node = node_of()
    found = lookup.find_by_bsn(node, bsn) if bsn else lookup.find_by_name(node, name)
    registry.note_viewed(node, actor(), [p.bsn for p in found], "web-search")
    return page("search.html", found=found, searched=True, naam=name)


# --- a client and the family -----------------------------------------------------------------


@bp.get("/clienten/<pid>")
def client(pid: str) -> Response:
    node = node_of()
    person = lookup.person(node, pid)
    registry.note_viewed(node, actor(), [person.bsn], "client-page")
    lines = lookup.consents_of(node, pid)
    named = {o for line in lines for o in (*line.holders, *line.recipients)}
    return page(
        "client.html",
        person=person,
        parents=lookup.parents(node, pid),
        children=lookup.children(node, pid),
        consents=lines,
        contacts=orgs.contacts(named),
        own_org=node.org_id,
        **labels(),
    )


# --- consent ---------------------------------------------------------------------------------


def _consent_page(pid: str, status: int = 200, **extra: Any) -> Response:
    node = node_of()
    required, consulted, blocked = lookup.grantors(node, pid)
    today = lookup.today_of(node)
    # bilateral partners are pre-checked as sources (a node has a few); the members of a
    # regional list are not: a consent names the organisations the client agreed to, no more
    values = {
        "start": today.isoformat(),
        "end": forms.default_end(today).isoformat(),
        "van": [e.org_id for e in orgs.partners() if e.source == "bilateral"],
        "naar": [node.org_id],
        "categorie": [],
        "doel": "",
    }
    values.update(extra.pop("values", {}))
    return page(
        "consent_form.html",
        status,
        person=lookup.person(node, pid),
        required=required,
        consulted=consulted,
        blocked=blocked,
        values=values,
        org_choices=orgs.choices(),
        own_org=node.org_id,
        purposes=forms.purposes(),
        categories=forms.categories(),
        **labels(),
        **extra,
    )


@bp.get("/clienten/<pid>/toestemming")
def consent_form(pid: str) -> Response:
    return _resumed(pid, consent_record, _consent_page)


@bp.post("/clienten/<pid>/toestemming")
def consent_record(pid: str) -> Response:
    node = node_of()
    form = the_form()
    required, consulted, _blocked = lookup.grantors(node, pid)
    known = {g_.reference for g_ in required + consulted}
    answers = {g_.reference: form.get("antwoord-" + g_.reference, "") for g_ in required}
    agreed = [r for r, a in answers.items() if a == "ja"]
    refused = [r for r, a in answers.items() if a == "nee"]
    consulted_refs = [r for r in form.getlist("geraadpleegd") if r in known and r not in answers]
    purpose = form.get("doel", "")
    cats = forms.chosen_categories(form)
    holders = [o for o in form.getlist("van") if o in {node.org_id, *partners()}]
    recipients = [o for o in form.getlist("naar") if o in {node.org_id, *partners()}]
    if purpose == forms.FINDABLE:
        # being findable here: only this organisation, no recipient, only "involvement" (section 8)
        cats, holders, recipients = ["involvement"], [node.org_id], []
    start, end = forms.a_date(forms.text(form, "start")), forms.a_date(forms.text(form, "end"))
    errors: forms.Errors = []
    if purpose not in forms.purposes():
        errors.append(("doel", "Kies het doel waarvoor gedeeld mag worden."))
    elif not cats:
        errors.append(("categorie-" + forms.categories()[0], "Kies minstens één soort gegevens."))
    if not holders:
        errors.append(("van-0", "Kies welke organisatie de gegevens deelt."))
    if not recipients and purpose != forms.FINDABLE:
        errors.append(("naar-0", "Kies welke organisatie de gegevens ontvangt."))
    if start is None:
        errors.append(("start", "Vul een geldige ingangsdatum in (jjjj-mm-dd)."))
    if end is None or (start is not None and end < start):
        errors.append(("end", "Vul een geldige einddatum in, niet vóór de ingangsdatum."))
    values = {
        "start": forms.text(form, "start"),
        "end": forms.text(form, "end"),
        "van": holders,
        "naar": recipients,
        "categorie": cats,
        "doel": purpose,
        "antwoorden": answers,
        "geraadpleegd": consulted_refs,
    }
    unfinished = _unfinished(_consent_page, pid, values, errors)
    if unfinished is not None:
        return unfinished
    assert start is not None
    repeat = onetime.claim()
    if repeat is not None:
        return repeat
    resource = forms.consent_resource(
        pid,
        agreed=agreed,
        refused=refused,
        consulted=consulted_refs,
        recipients=recipients,
        holders=holders,
        purpose=purpose,
        cats=cats,
        start=start,
        end=end,
    )
    try:
        stored = consents.record(node, fhir_in.consent(resource), actor())
    except GatewayError as exc:
        onetime.release()  # nothing was recorded: the same form may be corrected and sent again
        code, text = refusal_text(exc)
        return _consent_page(pid, 422, errors=[("toestemmers", text)], refusal_code=code, values=values)
    return onetime.done(f"/toestemming/{stored['id']}/vastgelegd")


@bp.get("/toestemming/<cid>/vastgelegd")
def consent_done(cid: str) -> Response:
    node = node_of()
    pid = lookup.subject_of_consent(node, cid)
    line = next(c for c in lookup.consents_of(node, pid) if c.id == cid)
    empty = lookup.nothing_held(node, pid, line.categories) if node.org_id in line.holders else []
    return page(
        "consent_done.html",
        person=lookup.person(node, pid),
        cid=cid,
        line=line,
        refused_names=line.refused_by,
        nothing_held=empty,
        **labels(),
    )


@bp.get("/toestemming/<cid>/bewijs")
def receipt(cid: str) -> Response:
    html = receipt_page.render(consents.receipt(node_of(), cid, actor()))
    resp = Response(html, mimetype="text/html")
    return secure_headers(resp, style_hashes(html))


@bp.get("/toestemming/<cid>/intrekken")
def revoke_confirm(cid: str) -> Response:
    node = node_of()
    pid = lookup.subject_of_consent(node, cid)
    line = next(c for c in lookup.consents_of(node, pid) if c.id == cid)
    return page(
        "revoke.html",
        person=lookup.person(node, pid),
        line=line,
        withdrawers=_withdrawers(node, pid, line),
        done=request.args.get("klaar") == "1" and line.status != "active",
        **labels(),
    )


def _withdrawers(node: Node, pid: str, line: lookup.ConsentLine) -> list[lookup.Grantor]:
    """Who gave this consent and may withdraw it, with the references the form sends."""
    required, consulted, _ = lookup.grantors(node, pid)
    return [g_ for g_ in required + consulted if g_.key in line.grantor_keys]


@bp.post("/toestemming/<cid>/intrekken")
def revoke(cid: str) -> Response:
    node = node_of()
    lookup.subject_of_consent(node, cid)
    pid = lookup.subject_of_consent(node, cid)
    line = next(c for c in lookup.consents_of(node, pid) if c.id == cid)
    chosen = request.form.get("wie", "")
    allowed = {g_.reference for g_ in _withdrawers(node, pid, line)}
    if chosen not in allowed | {"hulpverlener"}:
        return page(
            "revoke.html",
            422,
            person=lookup.person(node, pid),
            line=line,
            withdrawers=_withdrawers(node, pid, line),
            errors=[("wie", "Kies wie de toestemming intrekt.")],
            **labels(),
        )
    repeat = onetime.claim()
    if repeat is not None:
        return repeat
    try:
        consents.revoke_and_notify(node, cid, actor(), None if chosen == "hulpverlener" else chosen)
    except GatewayError:
        onetime.release()
        raise
    return onetime.done(f"/toestemming/{cid}/intrekken?klaar=1")


# --- a summary from a partner ---------------------------------------------------------------


def _summary_form(pid: str, status: int = 200, **extra: Any) -> Response:
    node = node_of()
    asking = lookup.asking_consents(node, pid)
    values = extra.pop("values", None)
    if values is None:
        values = {}
        holders = [h for h in (asking[0].holders if len(asking) == 1 else ()) if h in partners()]
        if len(asking) == 1 and len(holders) == 1:
            # one valid consent shown above the form: fill the form in from it (issue 20.11)
            values = {"partner": holders[0], "doel": asking[0].purpose, "categorie": list(asking[0].categories)}
    return form_page("summary_form.html", pid, status, purposes=forms.purposes(), asking=asking, values=values, **extra)


@bp.get("/clienten/<pid>/samenvatting")
def summary_form(pid: str) -> Response:
    return _resumed(pid, summary, _summary_form)


def ask_partner(
    node: Node,
    who: audit_log.Actor,
    bsn: str,
    pid: str,
    partner: str,
    purpose: str,
    cats: list[str],
    note: str | None = None,
) -> present.Summary:
    """Ask ``partner`` under the newest consent recorded here that covers the request.

    ``request_summary`` issues the token from the consent ``consents.covering`` picks, the
    one ``asking_consents`` lists first, so the page names the consent it came under;
    without one it refuses in Dutch.
    """
    lines = lookup.asking_consents(node, pid, partner=partner, purpose=purpose, categories=frozenset(cats))
    bundle = exchange.request_summary(
        node,
        exchange.SummaryRequest(partner=partner, subject=bsn, purpose=purpose, categories=tuple(cats), note=note),
        who,
    )
    return present.read_summary(bundle, consent_id=lines[0].id if lines else "", purpose=purpose)


@bp.post("/clienten/<pid>/samenvatting")
def summary(pid: str) -> Response:
    node = node_of()
    ask = forms.read_exchange(
        the_form(),
        ("partner", "toelichting"),
        500,
        partners(),
        ("Kies de organisatie die u om een samenvatting vraagt.", "Kies het doel van uw vraag."),
    )
    unfinished = _unfinished(_summary_form, pid, ask.values, ask.errors)
    if unfinished is not None:
        return unfinished
    person = lookup.person(node, pid)
    repeat = onetime.claim()
    if repeat is not None:
        return repeat
    onetime.shown(f"/clienten/{pid}/samenvatting")  # a summary is shown once, never kept
    try:
        result = ask_partner(node, actor(), person.bsn, pid, ask.partner, ask.purpose, ask.categories, ask.note)
    except GatewayError as exc:
        code, text = refusal_text(exc)
        return _summary_form(pid, 200, refusal=(code, text, ask.partner), values=ask.values)
    empty = present.empty_sections(result, ask.categories)
    return page("summary.html", person=person, summary=result, empty=empty, **labels())


# --- the family overview (gezinsoverzicht) ---------------------------------------------------


@dataclass(frozen=True)
class Question:
    person: lookup.PersonCard
    partner: str
    line: lookup.ConsentLine


@dataclass(frozen=True)
class Answer:
    question: Question
    summary: present.Summary | None = None
    code: str = ""
    text: str = ""


def _family(node: Node, pid: str) -> list[lookup.PersonCard]:
    members = [lookup.person(node, pid)]
    for rel in lookup.parents(node, pid):
        if rel.person_id is not None:
            members.append(lookup.person(node, rel.person_id))
    return members


def _questions(node: Node, members: list[lookup.PersonCard]) -> list[Question]:
    out = []
    for member in members:
        for line in lookup.asking_consents(node, member.id):
            for holder in line.holders:
                if holder != node.org_id and node.partners.is_trusted(holder):
                    out.append(Question(member, holder, line))
    return out


def _left_out(
    node: Node, pid: str, members: list[lookup.PersonCard], questions: list[Question]
) -> tuple[dict[str, str], list[str]]:
    """Who the overview does not ask about, and why (issue 20.10): nobody is left out silently."""
    asked = {q.person.id for q in questions}
    left = {
        m.id: "want er is hier geen geldige toestemming om over deze persoon te vragen"
        for m in members
        if m.id not in asked
    }
    outside = [
        f"{rel.name} is hier niet als cliënt ingeschreven; over deze ouder kan het overzicht niet vragen."
        for rel in lookup.parents(node, pid)
        if rel.person_id is None and rel.key.startswith("bsn:")
    ]
    return left, outside


@bp.get("/clienten/<pid>/gezinsoverzicht")
def overview_form(pid: str) -> Response:
    node = node_of()
    members = _family(node, pid)
    questions = _questions(node, members)
    left, outside = _left_out(node, pid, members, questions)
    return page(
        "overview.html",
        person=members[0],
        members=members,
        questions=questions,
        left_out=left,
        outside=outside,
        deadline=cfg().web.overview_deadline,
        **labels(),
    )


@bp.post("/clienten/<pid>/gezinsoverzicht")
def overview(pid: str) -> Response:
    """Ask every partner at once, wait one deadline, show what came; store nothing of it."""
    node = node_of()
    members = _family(node, pid)
    questions = _questions(node, members)
    who = actor()
    repeat = onetime.claim()
    if repeat is not None:
        return repeat
    onetime.shown(f"/clienten/{pid}/gezinsoverzicht")  # shown once, nothing of it stored

    def ask(q: Question) -> Answer:
        try:
            result = ask_partner(
                node, who, q.person.bsn, q.person.id, q.partner, q.line.purpose, list(q.line.categories)
            )
            return Answer(q, summary=result)
        except GatewayError as exc:
            code, text = refusal_text(exc)
            return Answer(q, code=code, text=text)

    answers: list[Answer] = []
    pool = ThreadPoolExecutor(max_workers=min(8, len(questions)) + 1, thread_name_prefix="gezinsoverzicht")
    # who is involved (contract section 8) is asked at the same time as the summaries
    finding = pool.submit(locating.search, node, locating.Request(tuple(m.bsn for m in members), LOCATE_PURPOSE), who)
    futures = {pool.submit(ask, q): q for q in questions}
    pending: list[Future[Any]] = [finding, *futures]
    done, _late = wait(pending, timeout=cfg().web.overview_deadline, return_when=ALL_COMPLETED)
    pool.shutdown(wait=False, cancel_futures=True)  # a late answer is audited, never shown
    involved = _involved(members, finding.result()) if finding in done and finding.exception() is None else None
    if questions:
        for fut, q in futures.items():
            if fut in done and fut.exception() is None:
                answers.append(fut.result())
            elif fut in done:
                answers.append(Answer(q, code="error", text="Er ging iets mis bij deze vraag."))
            else:
                secs = cfg().web.overview_deadline
                answers.append(
                    Answer(
                        q,
                        code="partner-timeout",
                        text=f"{q.partner} antwoordde niet binnen {secs:g} {'seconde' if secs == 1 else 'seconden'}.",
                    )
                )
    left, outside = _left_out(node, pid, members, questions)
    return page(
        "overview.html",
        person=members[0],
        members=members,
        questions=questions,
        answers=answers,
        left_out=left,
        outside=outside,
        asked=True,
        deadline=cfg().web.overview_deadline,
        involved=involved,
        **labels(),
    )


# --- who is involved (elkaar vinden, contract section 8) -------------------------------------

LOCATE_PURPOSE = "care-coordination"


@dataclass(frozen=True)
class Involved:
    person: lookup.PersonCard
    found: list[Any]  # gateway.federation.directory.DirectoryEntry


@dataclass(frozen=True)
class InvolvedView:
    people: list[Involved]
    unavailable: list[tuple[Any, str]]  # (DirectoryEntry, reason code)


def _involved(members: list[lookup.PersonCard], result: Any) -> InvolvedView:
    return InvolvedView(
        people=[Involved(m, [f.entry for f in result.found if f.subject == m.bsn]) for m in members],
        unavailable=result.unavailable,
    )


@bp.post("/clienten/<pid>/betrokkenen")
def involved(pid: str) -> Response:
    """Ask every trusted partner who is involved with this person and the parents; store nothing."""
    node = node_of()
    members = _family(node, pid)
    try:
        result = locating.search(node, locating.Request(tuple(m.bsn for m in members), LOCATE_PURPOSE), actor())
    except GatewayError as exc:
        code, text = refusal_text(exc)
        return page("involved.html", person=members[0], members=members, refusal=(code, text), **labels())
    return page(
        "involved.html",
        person=members[0],
        members=members,
        involved=_involved(members, result),
        deadline=cfg().locator.deadline,
        **labels(),
    )


# --- safety disclosure -----------------------------------------------------------------------


def _safety_form(pid: str, status: int = 200, **extra: Any) -> Response:
    values = extra.pop("values", {})
    return form_page("safety_form.html", pid, status, grounds=present.LEGAL_GROUNDS_NL, values=values, **extra)


@bp.get("/clienten/<pid>/veiligheidsmelding")
def safety_form(pid: str) -> Response:
    return _resumed(pid, safety_disclosure, _safety_form)


@bp.post("/clienten/<pid>/veiligheidsmelding")
def safety_disclosure(pid: str) -> Response:
    node = node_of()
    form = the_form()
    recipient, ground = form.get("ontvanger", ""), form.get("grond", "")
    cats, justification = forms.chosen_categories(form), forms.text(form, "onderbouwing")
    values = {"ontvanger": recipient, "grond": ground, "categorie": cats, "onderbouwing": justification}
    errors: forms.Errors = []
    if recipient not in partners():
        errors.append(("ontvanger", "Kies de organisatie die de gegevens moet ontvangen."))
    if not cats:
        errors.append(("categorie-" + forms.categories()[0], "Kies minstens één soort gegevens."))
    if ground not in present.LEGAL_GROUNDS_NL:
        errors.append(("grond-meldcode", "Kies de wettelijke grond."))
    if len(justification) < 10:
        errors.append(("onderbouwing", "Onderbouw waarom u zonder toestemming deelt (minstens enkele woorden)."))
    unfinished = _unfinished(_safety_form, pid, values, errors)
    if unfinished is not None:
        return unfinished
    person = lookup.person(node, pid)
    if form.get("stap") != "bevestigen" or form.get("bevestiging") != "ja":
        # the confirmation step: show exactly what will leave, and ask again
        unconfirmed = form.get("stap") == "bevestigen"
        preview = present.read_summary(safety.preview(node, person.bsn, cats, actor()), consent_id="", purpose="")
        return page(
            "safety_confirm.html",
            422 if unconfirmed else 200,
            person=person,
            values=values,
            preview=preview,
            empty=present.empty_sections(preview, cats),
            errors=[("bevestiging", "Bevestig dat u deze gegevens zonder toestemming wilt delen.")]
            if unconfirmed
            else None,
            **labels(),
        )
    repeat = onetime.claim()
    if repeat is not None:
        return repeat
    # a reload after a failed push must not push again unasked: the professional starts anew
    onetime.shown(f"/clienten/{pid}/veiligheidsmelding")
    try:
        sent = safety.disclose(
            node,
            safety.DisclosureRequest(
                recipient=recipient,
                subject=person.bsn,
                categories=tuple(cats),
                legal_ground=ground,
                justification=justification,
            ),
            actor(),
        )
    except GatewayError as exc:
        code, text = refusal_text(exc)
        return _safety_form(pid, 200, refusal=(code, text), values=values)
    return onetime.done(f"/veiligheidsmelding/{sent.exchange_id}")


@bp.get("/veiligheidsmelding/<xid>")
def safety_done(xid: str) -> Response:
    """What was sent under this exchange id, from this node's own log (the result page of PRG)."""
    node = node_of()
    sent = lookup.safety_sent(node, xid, g.user["actor_id"])
    return page("safety_done.html", person=sent.person, sent=sent, exchange_id=xid, date_nl=present.date_nl, **labels())
