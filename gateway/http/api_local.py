"""Local API for EHRs, professionals and privacy officers (contract section 3).

Views parse, call one use case, and render; errors go to gateway.http.outcomes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import UnsupportedMediaType

from contract.errors import InvalidRequest, NotFound
from gateway.current import node_of
from gateway.fhir import fhir_in, parameters, searchset
from gateway.fhir.fhir_in import RECORD_TYPES
from gateway.fhir.fhirjson import fhir_response, read_body, read_response, written_response
from gateway.http import operations
from gateway.http.context import actor, caller
from gateway.http.idempotency import idempotent
from gateway.services import auditing, consents, exchange, push, registry, safety
from gateway.services import locate as locating
from gateway.web import disclosure_report as disclosure_page
from gateway.web import receipt as receipt_page

bp = Blueprint("local", __name__)

WRITERS = ("ehr", "professional", "admin")
READERS = ("ehr", "professional")
RECORDS = f"/fhir/<any({', '.join(RECORD_TYPES)}):rtype>"  # the node's own record types


def _base() -> str:
    return node_of().config.node.url.rstrip("/")


@bp.post("/fhir/Patient")
@idempotent()
def create_patient() -> Response:
    caller(*WRITERS)
    resource, created = registry.register_person(node_of(), fhir_in.patient(read_body("Patient")))
    return written_response(resource, 201 if created else 200, _base())


@bp.get("/fhir/Patient")
def search_patient() -> Response:
    return _patient_search(request.args)


@bp.post("/fhir/Patient/_search")
def search_patient_by_post() -> Response:
    """FHIR search by POST (http.html#search): the parameters in a form body, out of the URL."""
    if (request.mimetype or "") != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType()
    return _patient_search(request.form)


def _patient_search(args: Any) -> Response:
    who = actor(caller(*READERS))
    pg = searchset.page(args, known={"identifier"}, prefer=request.headers.get("Prefer", ""))
    ident = args.get("identifier", "")
    system, _sep, value = ident.rpartition("|")
    if not value:
        raise InvalidRequest(
            f"Zoek op identifier={parameters.BSN_SYSTEM}|<BSN> (of het BSN alleen).",
            expression=("identifier",),
            diagnostics="identifier (a BSN) is required",
        )
    # FHIR token search: "value" matches in any system, "system|value" in that system only;
    # this node keeps BSNs alone, so another system finds no one (and learns nothing)
    found = registry.find_person(node_of(), value, who) if system in ("", parameters.BSN_SYSTEM) else []
    return fhir_response(
        searchset.bundle(
            found[pg.offset : pg.offset + pg.count],
            len(found),
            pg,
            self_url=_base() + "/fhir/Patient",
            params=[("identifier", ident)] if request.method == "GET" else [],
            full_url=lambda r: f"{_base()}/fhir/Patient/{r['id']}",
        )
    )


@bp.get("/fhir/Patient/<pid>")
def read_patient(pid: str) -> Response:
    return read_response(registry.read_person(node_of(), pid, actor(caller(*READERS))), _base())


@bp.get(f"/fhir/<any({', '.join(('Patient', 'Consent', *RECORD_TYPES))}):rtype>/<rid>/_history/<vid>")
def vread(rtype: str, rid: str, vid: str) -> Response:
    """FHIR vread of the current version (where a create's Location points); the node keeps
    no history, so an earlier version is not-found."""
    who = caller(*READERS)
    node = node_of()
    if rtype == "Patient":
        resource = registry.read_person(node, rid, actor(who))
    elif rtype == "Consent":
        actor(who)
        resource = consents.read(node, rid)
    else:
        resource = registry.read_record(node, rtype, rid, actor(who, required=False))
    if (resource.get("meta") or {}).get("versionId") != vid:
        raise NotFound(f"Versie {vid[:16]} van {rtype}/{rid[:64]} wordt hier niet bewaard; lees de huidige.")
    return read_response(resource, _base())


@bp.post("/fhir/RelatedPerson")
@idempotent()
def create_related_person() -> Response:
    caller(*WRITERS)
    return written_response(
        registry.add_relation(node_of(), fhir_in.related_person(read_body("RelatedPerson"))), 201, _base()
    )


@bp.delete("/fhir/RelatedPerson/<rid>")
@idempotent()
def delete_related_person(rid: str) -> Response:
    """A RelatedPerson registered by mistake is removed (issue 20.13), audited."""
    who = caller(*WRITERS)
    registry.remove_relation(node_of(), rid, actor(who, required=False))
    return Response(status=204)


@bp.post(RECORDS)
@idempotent()
def create_record(rtype: str) -> Response:
    who = caller(*WRITERS)
    body = read_body(rtype)
    acting = actor(who, required=False)  # a bad X-Practitioner is refused before a bad body
    data = fhir_in.record(body, fhir_in.known_categories())
    [(resource, created)] = registry.push_records(node_of(), [data], acting)
    return written_response(resource, 201 if created else 200, _base())


@bp.get(RECORDS + "/<rid>")
def read_record(rtype: str, rid: str) -> Response:
    """An EHR reads back a record it pushed (as stored here, with its version)."""
    who = caller(*READERS)
    return read_response(registry.read_record(node_of(), rtype, rid, actor(who, required=False)), _base())


@bp.delete(RECORDS)
@idempotent()
def delete_record_by_identifier(rtype: str) -> Response:
    """FHIR conditional delete on the link back to the source: ``?identifier=system|value``."""
    who = caller(*WRITERS)
    unknown = set(request.args) - {"identifier"}
    if unknown:
        raise InvalidRequest(f"Onbekende parameter(s): {', '.join(sorted(unknown))}; verwijder op identifier.")
    system, sep, value = request.args.get("identifier", "").rpartition("|")
    if not (sep and system and value):
        raise InvalidRequest("Verwijder op identifier=<systeem>|<waarde>: de koppeling naar de bron.")
    registry.delete_record(node_of(), rtype, actor(who, required=False), identifier=(system, value))
    return Response(status=204)


@bp.delete(RECORDS + "/<rid>")
@idempotent()
def delete_record(rtype: str, rid: str) -> Response:
    who = caller(*WRITERS)
    registry.delete_record(node_of(), rtype, actor(who, required=False), rid=rid)
    return Response(status=204)


@bp.post("/fhir")
@idempotent()
def transaction() -> Response:
    who = caller(*WRITERS)
    return fhir_response(registry.transaction(node_of(), read_body("Bundle"), actor(who, required=False)))


@bp.post("/fhir/Consent")
@idempotent()
def create_consent() -> Response:
    who = caller(*READERS)
    body = read_body("Consent")
    acting = actor(who)  # a bad X-Practitioner is refused before a bad body
    resource = consents.record(node_of(), fhir_in.consent(body), acting)
    return written_response(resource, 201, _base())


RENEWAL_TAGS = ("renewal-due", consents.FLAG_SYSTEM + "|renewal-due")


@bp.get("/fhir/Consent")
def search_consent() -> Response:
    actor(caller(*READERS))
    pg = searchset.page(request.args, known={"patient", "_tag"}, prefer=request.headers.get("Prefer", ""))
    tag = request.args.get("_tag")
    if tag is not None and tag not in RENEWAL_TAGS:
        raise InvalidRequest(
            "_tag kent alleen renewal-due (toestemmingen die vernieuwd moeten worden).",
            expression=("_tag",),
            diagnostics="_tag supports renewal-due only",
        )
    patient = request.args.get("patient")
    pid = searchset.reference_id(patient, "Patient", _base()) if patient else None
    found = [] if pid == "" else consents.list_for(node_of(), pid, renewal_due=tag is not None)
    return fhir_response(
        searchset.bundle(
            found[pg.offset : pg.offset + pg.count],
            len(found),
            pg,
            self_url=_base() + "/fhir/Consent",
            params=searchset.params_of(request.args, {"patient", "_tag"}),
            full_url=lambda r: f"{_base()}/fhir/Consent/{r['id']}",
        )
    )


@bp.get("/fhir/Consent/<cid>")
def read_consent(cid: str) -> Response:
    actor(caller(*READERS))
    return read_response(consents.read(node_of(), cid), _base())


@bp.post("/fhir/Consent/<cid>/$issue-token")
def issue_token(cid: str) -> Response:
    who = caller(*READERS)
    grantee = None
    if request.content_length:
        values = parameters.read(read_body("Parameters"), {"grantee": parameters.Spec("valueString")})
        grantee = values.get("grantee")
    tok = consents.issue_token(node_of(), cid, grantee, actor(who))
    return fhir_response(parameters.build(token=("valueString", tok)))


@bp.post("/fhir/Consent/<cid>/$revoke")
@idempotent()
def revoke(cid: str) -> Response:
    who = caller(*READERS)
    withdrawn_by = None
    if request.content_length:  # optional: who withdrew it (one of its grantors)
        values = parameters.read(read_body("Parameters"), {"withdrawn-by": parameters.Spec("valueReference")})
        withdrawn_by = (values.get("withdrawn-by") or {}).get("reference")
    resource = consents.revoke_and_notify(node_of(), cid, actor(who), withdrawn_by)
    return fhir_response(resource)


@bp.post("/fhir/$request-summary")
@idempotent(keep_body=False)  # a summary is never stored here
def request_summary() -> Response:
    who = caller(*READERS)
    return fhir_response(
        exchange.request_summary(node_of(), operations.summary_request(read_body("Parameters")), actor(who))
    )


@bp.post("/fhir/$locate")
def locate() -> Response:
    """Which trusted organisations are involved with these people (contract section 8)."""
    who = actor(caller(*READERS))
    found = locating.search(node_of(), operations.locate_request(read_body("Parameters")), who)
    return fhir_response(operations.located(found))


@bp.post("/fhir/$safety-disclosure")
@idempotent()
def safety_disclosure() -> Response:
    who = caller("professional")
    sent = safety.disclose(node_of(), operations.safety_request(read_body("Parameters")), actor(who))
    return fhir_response(operations.sent(sent))


@bp.get("/fhir/AuditEvent")
def audit_events() -> Response:
    who = caller("privacy-officer")
    # contract section 3: X-Practitioner on every call that reads data, the log included
    return fhir_response(
        auditing.search(node_of(), request.args, actor(who), request.base_url, prefer=request.headers.get("Prefer", ""))
    )


@bp.get("/consent/<cid>/receipt")
def receipt(cid: str) -> Response:
    who = caller(*READERS)
    html = receipt_page.render(consents.receipt(node_of(), cid, actor(who)))
    return Response(html, mimetype="text/html")


@bp.post("/fhir/$disclosure-report")
def disclosure_report() -> Response:
    """A person's disclosure report (Dutch HTML); the BSN travels in the body, not the URL."""
    who = caller("privacy-officer")
    values = parameters.read(read_body("Parameters"), {"subject": parameters.Spec("valueIdentifier", required=True)})
    html = disclosure_page.render(auditing.disclosure_report(node_of(), parameters.bsn(values["subject"]), actor(who)))
    return Response(html, mimetype="text/html")


@bp.post("/fhir/$send-summary")
@idempotent()  # an EHR that retries after a timeout pushes once, as $safety-disclosure does
def send_summary() -> Response:
    """The consented push (contract section 9): the holder sends a summary on its own initiative."""
    who = caller("professional")
    sent = push.send(node_of(), operations.send_request(read_body("Parameters")), actor(who))
    return fhir_response(operations.sent(sent))


@bp.get("/fhir/Bundle")
def inbox() -> Response:
    """The inbox (section 9): pushed summaries and safety disclosures, newest first, each tagged."""
    return fhir_response(push.inbox_bundle(node_of(), actor(caller(*READERS))))
