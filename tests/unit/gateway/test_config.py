"""A node's configuration is checked at start-up: a typo stops the node, not a request."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import config
from gateway.config import ConfigError


def a_home(tmp_path: Path, extra: str = "", **changes: str) -> Path:
    """A node home whose node.toml is what ``gateway init`` writes, plus ``extra``."""
    text = config.render_toml("ggz-noord", "GGZ Noord", "https://ggz-noord.example", "sqlite:///node.db", "ES256", 8400)
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "node.toml").write_text(text + extra, "utf-8")
    return tmp_path


def test_the_file_init_writes_loads_with_documented_defaults(tmp_path: Path) -> None:
    cfg = config.load(a_home(tmp_path), env={})

    assert cfg.node.org_id == "ggz-noord"
    assert cfg.token_url == "https://ggz-noord.example/oauth/token"
    assert cfg.keys.alg == "ES256"
    assert cfg.server.workers == 2 and cfg.partners.verify_tls is True
    assert cfg.security.access_token_ttl <= 300


def test_an_operator_moves_the_store_to_postgresql_through_the_environment(tmp_path: Path) -> None:
    url = "postgresql+psycopg://gateway:secret@db.internal/gateway"

    cfg = config.load(a_home(tmp_path), env={"GATEWAY_STORE_URL": url})

    assert cfg.store.url == url


def test_the_process_environment_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_SERVER_WORKERS", "5")
    monkeypatch.setenv("GATEWAY_PARTNERS_VERIFY_TLS", "false")

    cfg = config.load(a_home(tmp_path))

    assert cfg.server.workers == 5 and cfg.partners.verify_tls is False


def test_a_missing_node_toml_points_to_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gateway init"):
        config.load(tmp_path, env={})


@pytest.mark.parametrize("extra", ["\n[logging]\nlevel = 'debug'\n", "\n[Node]\norg_id = 'x'\n"])
def test_an_unknown_section_is_refused(tmp_path: Path, extra: str) -> None:
    with pytest.raises(ConfigError, match="unknown section"):
        config.load(a_home(tmp_path, extra), env={})


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    home = a_home(tmp_path, **{"workers = 2": "workres = 2"})

    with pytest.raises(ConfigError, match=r"unknown key.*workres"):
        config.load(home, env={})


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    home = a_home(tmp_path, **{'org_id = "ggz-noord"': ""})

    with pytest.raises(ConfigError, match="org_id"):
        config.load(home, env={})


@pytest.mark.parametrize("alg", ["RS256", "HS256", "none", "es256", "Ed448"])
def test_an_algorithm_outside_the_allow_list_is_refused(tmp_path: Path, alg: str) -> None:
    home = a_home(tmp_path, **{'alg = "ES256"': f'alg = "{alg}"'})

    with pytest.raises(ConfigError, match="alg"):
        config.load(home, env={})


def test_a_bad_algorithm_from_the_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="alg"):
        config.load(a_home(tmp_path), env={"GATEWAY_KEYS_ALG": "RS256"})


@pytest.mark.parametrize(
    "env",
    [
        {"GATEWAY_SERVER_WORKERS": "many"},
        {"GATEWAY_SERVER_WORKERS": "0"},
        {"GATEWAY_SERVER_WORKERS": "\u0664"},  # Arabic-Indic four: int() takes it, an operator never means it
        {"GATEWAY_SERVER_PORT": "70000"},
        {"GATEWAY_SERVER_PORT": "0"},
        {"GATEWAY_PARTNERS_VERIFY_TLS": "maybe"},
        {"GATEWAY_PARTNERS_READ_TIMEOUT": "0"},
        {"GATEWAY_PARTNERS_CONNECT_TIMEOUT": "nan"},
        {"GATEWAY_PARTNERS_JWKS_MAX_AGE": "0"},
        {"GATEWAY_SECURITY_ACCESS_TOKEN_TTL": "86400"},
        {"GATEWAY_STORE_URL": "mysql://root@localhost/gateway"},
        {"GATEWAY_NODE_URL": "ftp://ggz-noord.example"},
        {"GATEWAY_NODE_ORG_ID": "GGZ Noord"},
        {"GATEWAY_NODE_ORG_ID": "ggz-noord\n"},
    ],
)
def test_a_bad_value_is_refused_at_start_up(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        config.load(a_home(tmp_path), env=env)


@pytest.mark.parametrize(
    "change",
    [
        {"workers = 2": "workers = 2.5"},
        {"workers = 2": "workers = true"},
        {"workers = 2": 'workers = "2"'},
    ],
)
def test_a_number_of_workers_must_be_a_whole_number(tmp_path: Path, change: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="workers"):
        config.load(a_home(tmp_path, **change), env={})


@pytest.mark.parametrize("extra", ['audit = "ten years"\n', "partners = [1, 2]\n"])
def test_a_section_that_is_not_a_table_is_refused(tmp_path: Path, extra: str) -> None:
    # top-level keys must come before the first table in TOML: rebuild the file that way
    home = a_home(tmp_path)
    text = (home / "node.toml").read_text()
    (home / "node.toml").write_text(extra + text)

    with pytest.raises(ConfigError):
        config.load(home, env={})


def test_a_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    home = a_home(tmp_path, "\n[server\n")

    with pytest.raises(ConfigError, match="node.toml"):
        config.load(home, env={})


def test_a_store_url_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="store"):
        config.load(a_home(tmp_path), env={"GATEWAY_STORE_URL": "postgresql+psycopg://gateway@db:port/gateway"})


def test_consent_registrars_come_from_the_file_or_the_environment(tmp_path: Path) -> None:
    """Issue 13 item 2: only the parties issue, unless IT names a registrar the node accepts."""
    assert config.load(a_home(tmp_path), env={}).consent.registrars == ()
    home = a_home(tmp_path, '\n[consent]\nregistrars = ["toestemming.regio-noord"]\n')
    assert config.load(home, env={}).consent.registrars == ("toestemming.regio-noord",)
    cfg = config.load(home, env={"GATEWAY_CONSENT_REGISTRARS": "regio-a, regio-b"})
    assert cfg.consent.registrars == ("regio-a", "regio-b")


@pytest.mark.parametrize("value", ['"regio-a"', '["Regio A"]', "[1]"])
def test_a_registrar_that_is_no_org_id_list_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="registrars"):
        config.load(a_home(tmp_path, f"\n[consent]\nregistrars = {value}\n"), env={})
