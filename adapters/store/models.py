"""The node's tables (SQLAlchemy 2 declarative). Schema changes go through Alembic.

One store per node. FHIR resources are kept as JSON text beside the columns the node
searches on; audit entries keep the canonical record JSON that their hash covers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # Every model here maps one declared table (none maps a join or a select), so the Core
    # statements built on `Model.__table__` (insert ... on conflict, bulk delete) take a Table.
    __table__: ClassVar[Table]


class Client(Base):
    """A local API client (an EHR, a portal, a privacy-officer tool); secret hashed at rest."""

    __tablename__ = "clients"
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Partner(Base):
    """A trusted partner node, reached at ``url``; its keys are pinned in partner_keys."""

    __tablename__ = "partners"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    jwks_fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # issue 15: "bilateral" (partner add), "federation" (the list in force) or "both"
    source: Mapped[str] = mapped_column(String(16), default="bilateral", server_default="bilateral")
    # JSON list of the thumbprints the federation list names; NULL: whatever its JWKS publishes
    allowed_kids: Mapped[str | None] = mapped_column(Text, nullable=True)
    # trusted only through the list: not after the list's valid-until (plus grace); NULL: no end
    trusted_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # why this partner is refused although listed (a conflict between list and partner add)
    refused: Mapped[str] = mapped_column(String(255), default="", server_default="")


class PartnerKey(Base):
    __tablename__ = "partner_keys"
    __table_args__ = (UniqueConstraint("org_id", "kid"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("partners.org_id", ondelete="CASCADE"))
    kid: Mapped[str] = mapped_column(String(128))
    jwk: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UsedJti(Base):
    """Single-use values: the failed insert of a duplicate *is* the replay refusal."""

    __tablename__ = "used_jti"
    issuer: Mapped[str] = mapped_column(String(128), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bsn: Mapped[str] = mapped_column(String(9), unique=True)
    birth_date: Mapped[date] = mapped_column(Date)
    resource: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the display name case-folded, for the professionals' name search ('' without a name)
    search_name: Mapped[str] = mapped_column(String(512), default="", server_default="")


class Relation(Base):
    """A parent, voogd or guardian institution of a child; ``custody`` marks gezag."""

    __tablename__ = "relations"
    __table_args__ = (UniqueConstraint("child_id", "party_key"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    child_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    party_key: Mapped[str] = mapped_column(String(80))  # bsn:<bsn> or org:<id>
    kind: Mapped[str] = mapped_column(String(16))  # parent | guardian | institution
    custody: Mapped[bool] = mapped_column(Boolean)
    resource: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Record(Base):
    """One of the node's own records (Observation, CarePlan, CareTeam, EpisodeOfCare)."""

    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_records_subject_category", "subject_id", "category"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    resource_type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    shareable: Mapped[bool] = mapped_column(Boolean)
    resource: Mapped[str] = mapped_column(Text)
    source_system: Mapped[str] = mapped_column(String(255))
    source_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentRow(Base):
    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(String(64))
    categories: Mapped[str] = mapped_column(Text)  # JSON list
    recipients: Mapped[str] = mapped_column(Text)
    holders: Mapped[str] = mapped_column(Text)
    grantors: Mapped[str] = mapped_column(Text)
    refusals: Mapped[str] = mapped_column(Text)
    consulted: Mapped[str] = mapped_column(Text)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    resource: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # who recorded it and who withdrew it (audit actor ids, e.g. uzi:…), for the receipt
    recorded_by: Mapped[str] = mapped_column(String(128), default="", server_default="")
    revoked_by: Mapped[str] = mapped_column(String(128), default="", server_default="")


class Exchange(Base):
    """One exchange as seen by this node: the holder's replay guard, the requester's receipt."""

    __tablename__ = "exchanges"
    __table_args__ = (UniqueConstraint("role", "peer_org", "exchange_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # holder | requester | safety-sent | safety-received
    peer_org: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(9))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_hash: Mapped[str] = mapped_column(String(64), default="")
    consent_id: Mapped[str] = mapped_column(String(64), default="")


class AuditEntry(Base):
    """One link of the hash chain; ``record_json`` is exactly what the hash covers."""

    __tablename__ = "audit_entries"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    recorded_at: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(9), index=True)
    actor_id: Mapped[str] = mapped_column(String(128), index=True)
    peer_org: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    exchange_id: Mapped[str] = mapped_column(String(64), index=True)
    consent_id: Mapped[str] = mapped_column(String(64))
    flagged: Mapped[bool] = mapped_column(Boolean)
    record_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row every appender locks: last seq and hash, signed by the node key."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    signed: Mapped[str] = mapped_column(Text)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64))
    signed: Mapped[str] = mapped_column(Text)


class Inbox(Base):
    """Summaries pushed to this node, kept for its professionals to read: safety disclosures
    (contract section 4) and consented pushes (section 9), told apart by ``kind``."""

    __tablename__ = "inbox"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    exchange_id: Mapped[str] = mapped_column(String(64))
    from_org: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(9), index=True)
    legal_ground: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bundle: Mapped[str] = mapped_column(Text)
    # safety-disclosure | consented-push (disclosure CodeSystem); a push names its consent
    kind: Mapped[str] = mapped_column(String(32), default="safety-disclosure", server_default="safety-disclosure")
    purpose: Mapped[str] = mapped_column(String(64), default="", server_default="")
    consent_id: Mapped[str] = mapped_column(String(200), default="", server_default="")


class EndedSession(Base):
    """A web session ended by logging out. Its cookie is refused until the moment it would
    have expired anyway (``expires_at``), after which the row may go."""

    __tablename__ = "ended_sessions"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class WitnessedHead(Base):
    """The highest signed audit head seen of a partner (issue 13, item 12). ``conflict`` holds
    a head of that partner that contradicted this one (its log went back, or forked); from
    then on the row no longer moves, so the evidence outlives the partner's new appends."""

    __tablename__ = "witnessed_heads"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32))
    signed: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    conflict: Mapped[str] = mapped_column(Text, default="", server_default="")
    conflict_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FederationMember(Base):
    """A member of the federation list in force (contract section 7): the directory."""

    __tablename__ = "federation_members"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32))
    ura: Mapped[str] = mapped_column(String(16), default="")
    contact: Mapped[str] = mapped_column(Text)  # JSON list of phone numbers / e-mail addresses
    url: Mapped[str] = mapped_column(String(512))
    thumbprints: Mapped[str] = mapped_column(Text)  # JSON list (RFC 7638)


class FederationState(Base):
    """The one row saying which list is in force and how the last refresh went."""

    __tablename__ = "federation_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    federation_id: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=0)  # 0: no list applied yet
    operator_kid: Mapped[str] = mapped_column(String(64), default="")
    list_sha256: Mapped[str] = mapped_column(String(64), default="")
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    etag: Mapped[str] = mapped_column(String(255), default="")
    last_modified: Mapped[str] = mapped_column(String(64), default="")
    # the refresher's slot: one fetch per interval across all workers (conditional UPDATE)
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str] = mapped_column(String(512), default="")
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LocatorState(Base):
    """The findable set's state (contract section 8): one row, ``id`` 1.

    ``master_key`` (base64) derives each epoch's PSI key; ``generation`` grows with every
    change to a findable consent, so every worker sees the epoch change in one read.
    """

    __tablename__ = "locator_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    master_id: Mapped[str] = mapped_column(String(32))
    master_key: Mapped[str] = mapped_column(String(64))
    master_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    generation: Mapped[int] = mapped_column(Integer)


class LocatorRate(Base):
    """Per-partner match requests in the current fixed window (the rate limit, all workers)."""

    __tablename__ = "locator_rate"
    partner: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)


class OnceKey(Base):
    """A one-time form token or an API ``Idempotency-Key``, claimed by an atomic insert.

    ``status`` is 0 while the first request runs, then its HTTP status; ``location`` is
    where its result is shown (a page, or the API's Location header), ``body`` the API
    response to replay ('' where none may be kept). Rows go after a day.
    """

    __tablename__ = "once_keys"
    scope: Mapped[str] = mapped_column(String(160), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[int] = mapped_column(Integer, default=0)
    location: Mapped[str] = mapped_column(String(512), default="")
    body: Mapped[str] = mapped_column(Text, default="")


class FlagReview(Base):
    """A flagged audit entry a privacy officer marked handled (the marking is audited too)."""

    __tablename__ = "flag_reviews"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    handled_by: Mapped[str] = mapped_column(String(128))
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(String(500), default="")


class Professional(Base):
    """A professional's display name as their IdP gave it at their last login to the pages,
    so reports can name people rather than numbers (issue 20.8)."""

    __tablename__ = "professionals"
    actor_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
