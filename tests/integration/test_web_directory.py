"""The directory on a professional's pages: names, kinds and whom to call (issue 15).

Jeugdteam West follows Regio West's member list. Pien de Wit records a consent and sees the
region's organisations by name, grouped by kind; on the mother's page she finds the phone
number of the GGZ crisis service named in that consent. A GP practice trusted by a
bilateral ``partner add`` only has its org id to show.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import select
from web_builders import PROFESSIONAL, WEB, a_family, a_partner, dispose_all, logged_in, web_app

from adapters.store.models import ConsentRow
from gateway.demo import data as d
from gateway.federation import memberlist as fedlist
from gateway.federation import membership as federation_trust
from gateway.federation.memberlist import ListedMember
from gateway.fhir import fhir_in
from gateway.repositories.audit_log import Actor
from gateway.services import consents

OPERATOR = ECKey.generate_key("P-256", private=True)
KEY = ECKey.generate_key("P-256", private=True).thumbprint()
REGION = (
    ListedMember(
        "ggz-noord",
        "GGZ Noord",
        "adult-mental-health",
        "https://ggz-noord.example",
        (KEY,),
        ("+31 50 123 4567", "crisisdienst@ggz-noord.example"),
    ),
    ListedMember(
        "veilig-thuis-west", "Veilig Thuis West", "safe-at-home", "https://vt-west.example", (KEY,), ("0800 2000",)
    ),
    ListedMember("jeugdbescherming-noord", "Jeugdbescherming Noord", "child-protection", "https://jb.example", (KEY,)),
)


@pytest.fixture
def app(make_home: Any) -> Any:
    home = make_home("jeugdteam-west", "Jeugdteam West")
    application = web_app(
        home,
        extra=WEB + "\n[federation]\n"
        'list_url = "https://lijst.regio-west.example/federation.json"\n'
        f'operator_thumbprints = ["{OPERATOR.thumbprint()}"]\n',
    )
    node = application.extensions["gateway"]
    now = datetime.now(UTC)
    raw = json.dumps(
        fedlist.sign(
            fedlist.build("regio-west", 1, REGION, now=now, valid_until=now + timedelta(days=7)), OPERATOR, now=now
        )
    ).encode()
    federation_trust.apply(node, fedlist.verify(raw, [OPERATOR.thumbprint()], now=now))
    a_partner(application, "huisarts-de-linde")
    yield application
    dispose_all()


@pytest.fixture
def client(app: Any) -> Any:
    return logged_in(app, PROFESSIONAL)


def test_the_consent_form_offers_listed_members_by_name_grouped_by_kind(app: Any, client: Any) -> None:
    ids = a_family(app)
    page = client.get(f"/clienten/{ids['mother']}/toestemming").text
    groups = ["Deze organisatie", "Ggz voor volwassenen", "Jeugdbescherming", "Veilig Thuis", "Andere organisatie"]
    positions = [page.index(f"<strong>{g}</strong>") for g in groups]
    assert positions == sorted(positions)
    assert 'value="ggz-noord"' in page and ">GGZ Noord</label>" in page
    assert ">Jeugdteam West (deze organisatie)</label>" in page
    assert ">huisarts-de-linde</label>" in page  # a bilateral partner carries no listed name
    # nothing listed is pre-checked: the professional ticks what the client agreed to
    assert 'value="ggz-noord" checked' not in page and 'value="huisarts-de-linde" checked' in page


def test_the_clients_page_names_the_consents_organisations_and_how_to_reach_them(app: Any, client: Any) -> None:
    ids = a_family(app)
    node = app.extensions["gateway"]
    consents.record(
        node,
        fhir_in.consent(
            d.consent(
                ids["mother"],
                [f"Patient/{ids['mother']}"],
                recipients=["jeugdteam-west"],
                holders=["ggz-noord"],
                purpose="joint-safety-planning",
                categories=["signals"],
                start=date.today(),
            )
        ),
        Actor(actor_id="uzi:900000303", role="professional", client_id="web"),
    )
    page = client.get(f"/clienten/{ids['mother']}").text
    assert "GGZ Noord → Jeugdteam West" in page
    receipt = client.get(f"/toestemming/{_consent_id(node, ids['mother'])}/bewijs").text
    assert "<strong>Door:</strong> GGZ Noord</p>" in receipt  # what the mother reads
    contact = page[page.index("Contact met de andere organisaties") :]
    assert "GGZ Noord" in contact and "Ggz voor volwassenen" in contact
    assert 'href="tel:+31501234567"' in contact and "mailto:crisisdienst@ggz-noord.example" in contact
    assert "Veilig Thuis West" not in contact  # not named in any of her consents


def test_the_summary_form_names_the_organisation_and_its_kind(app: Any, client: Any) -> None:
    ids = a_family(app)
    page = client.get(f"/clienten/{ids['mother']}/samenvatting").text
    assert '<option value="veilig-thuis-west">Veilig Thuis West (Veilig Thuis)</option>' in page


def test_a_member_dropped_from_the_list_is_no_longer_offered(app: Any, client: Any) -> None:
    ids = a_family(app)
    node = app.extensions["gateway"]
    now = datetime.now(UTC)
    raw = json.dumps(
        fedlist.sign(
            fedlist.build("regio-west", 2, REGION[:1], now=now, valid_until=now + timedelta(days=7)), OPERATOR, now=now
        )
    ).encode()
    federation_trust.apply(node, fedlist.verify(raw, [OPERATOR.thumbprint()], now=now))
    page = client.get(f"/clienten/{ids['mother']}/toestemming").text
    assert "Veilig Thuis West" not in page and "GGZ Noord" in page


def _consent_id(node: Any, pid: str) -> str:
    with node.uow(read_only=True) as uow:
        return str(uow.session.scalars(select(ConsentRow.id).where(ConsentRow.subject_id == pid)).one())
