"""Every namespace URL the node emits or checks: code systems, naming systems, extensions.

One module, so a system is spelled once and a typo cannot split one namespace in two
(contract sections 4, 5 and 7; ``tests/unit/contract/test_systems.py`` checks that no other
production module spells such a URL). The project's canonical URLs live under ``BASE``
(the project's, not a node's); the rest are the standard systems of HL7, Nictiz, IHE,
DICOM and the terminologies whose codes a summary must never carry.
"""

from __future__ import annotations

# --- the project's own canonical URLs ------------------------------------------------------

BASE = "https://jggz-gateway.nl/fhir/"
"""Root of every canonical URL the project publishes."""

CODESYSTEM_BASE = BASE + "CodeSystem/"
NAMINGSYSTEM_BASE = BASE + "NamingSystem/"
EXTENSION_BASE = BASE + "StructureDefinition/"
OPERATION_BASE = BASE + "OperationDefinition/"

# CodeSystems (served by GET /fhir/CodeSystem; contract section 5)
SUMMARY_CATEGORY_SYSTEM = CODESYSTEM_BASE + "summary-category"
PURPOSE_SYSTEM = CODESYSTEM_BASE + "purpose"
DISCLOSURE_SYSTEM = CODESYSTEM_BASE + "disclosure"
REFUSAL_REASON_SYSTEM = CODESYSTEM_BASE + "refusal-reason"
CARE_STATUS_SYSTEM = CODESYSTEM_BASE + "care-status"
LEGAL_MEASURE_SYSTEM = CODESYSTEM_BASE + "legal-measure"
ORGANISATION_TYPE_SYSTEM = CODESYSTEM_BASE + "organisation-type"
AUDIT_ACTION_SYSTEM = CODESYSTEM_BASE + "audit-action"
AUDIT_FLAG_SYSTEM = CODESYSTEM_BASE + "audit-flag"
LEGAL_GROUND_SYSTEM = CODESYSTEM_BASE + "legal-ground"
CONSENT_FLAG_SYSTEM = CODESYSTEM_BASE + "consent-flag"
AUDIT_OUTCOME_SYSTEM = CODESYSTEM_BASE + "audit-outcome"
DESIGNATION_USE_SYSTEM = CODESYSTEM_BASE + "designation-use"
PARTY_KIND_SYSTEM = CODESYSTEM_BASE + "party-kind"
ROLE_SYSTEM = CODESYSTEM_BASE + "role"

# NamingSystems
ORG_ID_SYSTEM = NAMINGSYSTEM_BASE + "org-id"
CLIENT_ID_SYSTEM = NAMINGSYSTEM_BASE + "client-id"
CONSENT_ID_SYSTEM = NAMINGSYSTEM_BASE + "consent-id"
EXCHANGE_ID_SYSTEM = NAMINGSYSTEM_BASE + "exchange-id"

# Extensions (StructureDefinitions)
REQUEST_HASH_EXTENSION = EXTENSION_BASE + "request-sha256"
VALID_UNTIL_EXTENSION = EXTENSION_BASE + "valid-until"
OPERATOR_KEY_EXTENSION = EXTENSION_BASE + "operator-key"
KEY_THUMBPRINT_EXTENSION = EXTENSION_BASE + "key-thumbprint"
REFUSED_BY_EXTENSION = EXTENSION_BASE + "refused-by"
CONSULTED_EXTENSION = EXTENSION_BASE + "consulted"

FEDERATION_URN = "urn:jggz:federation:"
"""Prefix of the federation list's ``fullUrl``s (``urn:jggz:federation:Organization/<org>``)."""

LOCAL_SOURCE_URN = "urn:gateway:local"
"""``Provenance``-style source of what this node's own web pages record."""

SOURCE_URN = "urn:gateway:source:"
"""Prefix naming a configured EHR source (``urn:gateway:source:<name>``)."""

DEMO_EHR_URN = "urn:ehr:demo"
"""The demo's made-up EHR, whose record ids the demo data carries."""

# --- Dutch national systems (Nictiz) -----------------------------------------------------------

BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
URA_SYSTEM = "http://fhir.nl/fhir/NamingSystem/ura"
UZI_SYSTEM = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers"
AGB_SYSTEM = "http://fhir.nl/fhir/NamingSystem/agb-z"
BIG_SYSTEM = "http://fhir.nl/fhir/NamingSystem/big"

# --- HL7, IHE, DICOM, SMART ----------------------------------------------------------------------

FHIR_STRUCTURE_BASE = "http://hl7.org/fhir/StructureDefinition/"
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
PARTICIPATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ROLE_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
CONTACT_POINT_SYSTEM = "http://hl7.org/fhir/contact-point-system"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
LIFECYCLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
AUDIT_ENTITY_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_SOURCE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENDPOINT_CONNECTION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
ENDPOINT_PAYLOAD_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/endpoint-payload-type"
RESTFUL_SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
SIGNATURE_TYPE_SYSTEM = "urn:iso-astm:E1762-95:2013"
DICOM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
BALP_BASE = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# --- terminologies a summary must never carry (contract section 5; profiles.guard) -----------------

SNOMED_SYSTEM = "http://snomed.info/sct"
DESIGNATION_USAGE_SYSTEM = "http://terminology.hl7.org/CodeSystem/designation-usage"
LOINC_SYSTEM = "http://loinc.org"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
SNOMED_OID = "urn:oid:2.16.840.1.113883.6.96"
ICD10_OID = "urn:oid:2.16.840.1.113883.6.3"
ATC_OID = "urn:oid:2.16.840.1.113883.6.73"
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"
G_STANDAARD_OID_PREFIX = "urn:oid:2.16.840.1.113883.2.4.4."
"""G-Standaard (Z-Index) OIDs: GPK, HPK, PRK, ZI-nummer."""
