"""An operator configures EHR sources and code mappings; mistakes stop at load time (issue 6).

``[sources.NAME]`` in node.toml (``gateway.config``) and mapping files
(``ehr.mapping``): a typo, a secret in the file, plain http across a network, or a
mapping naming an unknown category is refused with one clear reason before any sync.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ehr import mapping
from gateway import config
from gateway.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EPD = "https://epd.example/CodeSystem/onderdeel"


def a_home(tmp_path: Path, sources: str) -> Path:
    text = config.render_toml("ggz-noord", "GGZ Noord", "https://ggz-noord.example", "sqlite:///node.db", "ES256", 8400)
    (tmp_path / "node.toml").write_text(text + "\n" + sources, "utf-8")
    return tmp_path


SOURCE = (
    '[sources.ggz-epd]\nbase_url = "https://epd.example/fhir"\nauth = "client_credentials"\n'
    'token_url = "https://epd.example/token"\nclient_id = "gw"\nmapping = "m.json"\n'
)


def test_a_source_loads_with_its_secret_from_the_environment_only(tmp_path: Path) -> None:
    cfg = config.load(
        a_home(tmp_path, SOURCE),
        env={"GATEWAY_SOURCE_GGZ_EPD_SECRET": "s3cret", "GATEWAY_SOURCE_GGZ_EPD_PAGE_SIZE": "50"},
    )

    (src,) = cfg.sources
    assert (src.name, src.auth, src.page_size, src.secret) == ("ggz-epd", "client_credentials", 50, "s3cret")
    assert src.record_system == "urn:gateway:source:ggz-epd"
    assert "s3cret" not in repr(cfg)
    assert config.load(tmp_path, env={}).sources[0].secret is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (('auth = "client_credentials"', 'auth = "basic"'), "auth must be one of"),
        (('client_id = "gw"\n', ""), "client_credentials needs client_id"),
        (("https://epd.example/token", "http://epd.example/token"), "needs an https token URL"),
        (("https://epd.example/fhir", "http://10.0.0.5/fhir"), "use https (http only on loopback)"),
        (('mapping = "m.json"\n', ""), "needs mapping"),
        (
            ('mapping = "m.json"\n', 'mapping = "m.json"\nclient_secret = "x"\n'),
            "secrets come from the environment only",
        ),
        (('mapping = "m.json"\n', 'mapping = "m.json"\npage_size = 0\n'), "page_size must be 1-1000"),
        (("[sources.ggz-epd]", "[sources.GGZ]"), "source name 'GGZ'"),
    ],
)
def test_a_mistake_in_a_source_stops_the_node_at_load(tmp_path: Path, change: tuple[str, str], reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.load(a_home(tmp_path, SOURCE.replace(*change)), env={})

    assert reason in err.value.detail


def test_http_on_loopback_is_allowed_for_a_local_test_ehr(tmp_path: Path) -> None:
    local = SOURCE.replace("https://epd.example/fhir", "http://127.0.0.1:8080/fhir")

    assert config.load(a_home(tmp_path, local), env={}).sources[0].base_url.startswith("http://127.0.0.1")


@pytest.mark.parametrize("name", ["ggz-epd.json", "jeugd-export.toml"])
def test_the_example_mappings_load(name: str) -> None:
    m = mapping.load(ROOT / "config" / "mappings" / name)

    assert {r.category for r in m.rules} >= {"signals", "safety-plan", "care-team", "care-status", "ignore"}


@pytest.mark.parametrize(
    ("codes", "reason"),
    [
        ([{"system": EPD, "code": "x", "category": "diagnosis"}], "unknown category 'diagnosis'"),
        ([{"system": EPD, "code": "x", "category": "care-status"}], "needs care_status"),
        ([{"system": EPD, "code": "x", "category": "signals", "care_status": "not-in-care"}], "care-status only"),
        ([{"system": EPD, "code": "x", "category": "signals", "shareable": "sometimes"}], "shareable is one of"),
        (
            [
                {"system": EPD, "code": "x", "category": "signals"},
                {"system": EPD, "code": "x", "category": "parenting"},
            ],
            "mapped twice",
        ),
        ([], "at least one code"),
    ],
)
def test_a_mapping_that_cannot_be_right_is_refused_whole(tmp_path: Path, codes: list[object], reason: str) -> None:
    file = tmp_path / "m.json"
    file.write_text(json.dumps({"codes": codes}), "utf-8")

    with pytest.raises(mapping.MappingError) as err:
        mapping.load(file)

    assert reason in err.value.detail


def test_codes_that_map_to_two_categories_are_never_guessed() -> None:
    m = mapping.parse(
        {
            "codes": [
                {"system": EPD, "code": "a", "category": "signals"},
                {"system": EPD, "code": "b", "category": "parenting"},
            ]
        },
        "m",
    )

    assert m.rule_for([("other", "z")]) is None
    assert m.rule_for([(EPD, "b"), ("other", "z")]).category == "parenting"  # type: ignore[union-attr]
    with pytest.raises(Exception, match="more than one category"):
        m.rule_for([(EPD, "a"), (EPD, "b")])
