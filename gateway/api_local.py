"""Local API for EHRs, professionals and privacy officers (contract section 3).

Views parse, call one use case, and render; errors go to gateway.outcomes.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from consent.errors import InvalidRequest
from gateway import parameters
from gateway.app import node_of
from gateway.fhir_in import RECORD_TYPES
from gateway.fhirjson import fhir_response, read_body
from gateway.idempotency import idempotent
from gateway.services import auditing, consents, exchange, push, registry, safety
from gateway.views import actor, caller

bp = Blueprint("local", __name__)

WRITERS = ("ehr", "professional", "admin")
READERS = ("ehr", "professional")
RECORDS = f"/fhir/<any({', '.join(RECORD_TYPES)}):rtype>"  # the node's own record types


@bp.post("/fhir/Patient")
@idempotent()
def create_patient() -> Response:
    caller(*WRITERS)
    resource, created = registry.register_person(node_of(), read_body("Patient"))
    return fhir_response(resource, 201 if created else 200,
                         {"Location": f"/fhir/Patient/{resource['id']}"})


@bp.get("/fhir/Patient")
def search_patient() -> Response:
    who = actor(caller(*READERS))
    ident = request.args.get("identifier", "")
    system, _, value = ident.rpartition("|")
    if system != parameters.BSN_SYSTEM:
        raise InvalidRequest(f"Zoek op identifier={parameters.BSN_SYSTEM}|<BSN>.")
    found = registry.find_person(node_of(), value, who)
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                          "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]})


@bp.get("/fhir/Patient/<pid>")
def read_patient(pid: str) -> Response:
    return fhir_response(registry.read_person(node_of(), pid, actor(caller(*READERS))))


@bp.post("/fhir/RelatedPerson")
@idempotent()
def create_related_person() -> Response:
    caller(*WRITERS)
    return fhir_response(registry.add_relation(node_of(), read_body("RelatedPerson")), 201)


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
    [(resource, created)] = registry.push_records(node_of(), [read_body(rtype)], actor(who, required=False))
    return fhir_response(resource, 201 if created else 200)


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
    resource = consents.record(node_of(), read_body("Consent"), actor(who))
    return fhir_response(resource, 201, {"Location": f"/fhir/Consent/{resource['id']}"})


RENEWAL_TAGS = ("renewal-due", consents.FLAG_SYSTEM + "|renewal-due")


@bp.get("/fhir/Consent")
def search_consent() -> Response:
    actor(caller(*READERS))
    tag = request.args.get("_tag")
    if tag is not None and tag not in RENEWAL_TAGS:
        raise InvalidRequest("_tag kent alleen renewal-due (toestemmingen die vernieuwd moeten worden).")
    found = consents.list_for(node_of(), request.args.get("patient") or None, renewal_due=tag is not None)
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                          "entry": [{"resource": r, "search": {"mode": "match"}} for r in found]})


@bp.get("/fhir/Consent/<cid>")
def read_consent(cid: str) -> Response:
    actor(caller(*READERS))
    return fhir_response(consents.read(node_of(), cid))


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
    return fhir_response(exchange.request_summary(node_of(), read_body("Parameters"), actor(who)))


@bp.post("/fhir/$locate")
def locate() -> Response:
    """Which trusted organisations are involved with these people (contract section 8)."""
    from gateway.services import locate as locating

    who = actor(caller(*READERS))
    return fhir_response(locating.locate(node_of(), read_body("Parameters"), who))


@bp.post("/fhir/$safety-disclosure")
@idempotent()
def safety_disclosure() -> Response:
    who = caller("professional")
    return fhir_response(safety.disclose(node_of(), read_body("Parameters"), actor(who)))


@bp.get("/fhir/AuditEvent")
def audit_events() -> Response:
    who = caller("privacy-officer")
    # contract section 3: X-Practitioner on every call that reads data, the log included
    return fhir_response(auditing.search(node_of(), request.args, actor(who), request.base_url))


@bp.get("/consent/<cid>/receipt")
def receipt(cid: str) -> Response:
    who = caller(*READERS)
    html = consents.receipt_html(node_of(), cid, actor(who))
    return Response(html, mimetype="text/html")


@bp.post("/fhir/$disclosure-report")
def disclosure_report() -> Response:
    """A person's disclosure report (Dutch HTML); the BSN travels in the body, not the URL."""
    who = caller("privacy-officer")
    values = parameters.read(read_body("Parameters"), {"subject": parameters.Spec("valueIdentifier", required=True)})
    html = auditing.disclosure_report(node_of(), parameters.bsn(values["subject"]), actor(who))
    return Response(html, mimetype="text/html")


@bp.post("/fhir/$send-summary")
def send_summary() -> Response:
    """The consented push (contract section 9): the holder sends a summary on its own initiative."""
    who = caller("professional")
    return fhir_response(push.send(node_of(), read_body("Parameters"), actor(who)))


@bp.get("/fhir/Bundle")
def inbox() -> Response:
    """The inbox (section 9): pushed summaries and safety disclosures, newest first, each tagged."""
    return fhir_response(push.inbox_bundle(node_of(), actor(caller(*READERS))))
