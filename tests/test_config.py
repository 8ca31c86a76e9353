"""Settings: one declaration each, from which the environment, the TOML file, the README's table
and ``cxg serve --help`` all derive; and the warnings at start-up."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import (
    SETTINGS,
    ConfigError,
    Settings,
    settings_table,
    startup_warnings,
)
from gateway.signing import KeyRing

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_table_is_generated_from_settings() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings:[^\n]*-->\n(.*?)<!-- /settings -->", text, re.S)
    assert found, "README.md lost its <!-- settings --> markers"
    assert found.group(1) == settings_table(), (
        "README.md's table of settings is stale: replace it with the output of"
        " `.venv/bin/python -m gateway.config --markdown`"
    )


def test_every_setting_is_documented_and_named_once() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    for spec in SETTINGS:
        assert spec.env == "CXG_" + spec.name.upper() and spec.meaning and spec.default


def test_serve_help_lists_every_setting() -> None:
    shown = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert shown.exit_code == 0
    for spec in SETTINGS:
        assert spec.env in shown.output


def test_defaults_and_the_variables_as_before() -> None:
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env(
        {
            "CXG_DATABASE_URL": "postgresql://cxg@db/cxg",
            "CXG_REST_PORT": "9090",
            "CXG_TRUST_CACHE_SECONDS": "0",
            "CXG_TLS_DIR": "",
            "CXG_KEYS_DIR": "/etc/cxg/keys",
            "CXG_ACCEPTED_LEGACY_IDS": "cn_uscc:91350100M0001TGQXM, ",
            "CXG_PUBLIC_URL": "https://cxg.example.org/",
            "CXG_ALLOWED_ORIGINS": "https://a.example, http://b.example:81",
        }
    )
    assert settings.database_url == "postgresql://cxg@db/cxg" and settings.rest_port == 9090
    assert settings.trust_cache_seconds == 0.0 and settings.tls_dir is None
    assert settings.keys_dir == Path("/etc/cxg/keys")
    assert settings.accepted_legacy_ids == frozenset({"CN_USCC:91350100M0001TGQXM"})
    assert settings.public_url == "https://cxg.example.org"
    assert settings.allowed_origins == ("https://a.example", "http://b.example:81")
    with pytest.raises(ConfigError, match="CXG_PUBLIC_URL"):
        Settings.from_env({"CXG_PUBLIC_URL": "cxg.example.org"})


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    file = tmp_path / "cxg.toml"
    file.write_text(
        'database_url = "sqlite:///from-file.db"\n'
        "grpc_port = 50052\n"
        "CXG_REST_PORT = 8081\n"  # the variable's own spelling is accepted too
        'allowed_origins = ["https://a.example", "https://b.example"]\n'
        'tls_dir = "pki"\n'
    )
    from_file = Settings.load(file, {})
    assert from_file.database_url == "sqlite:///from-file.db" and from_file.grpc_port == 50052
    assert from_file.rest_port == 8081 and from_file.tls_dir == Path("pki")
    assert from_file.allowed_origins == ("https://a.example", "https://b.example")
    both = Settings.load(file, {"CXG_DATABASE_URL": "sqlite:///from-env.db"})
    assert both.database_url == "sqlite:///from-env.db" and both.grpc_port == 50052


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("databse_url = 'x'\n", "databse_url: unknown setting (did you mean database_url?)"),
        ("grpc_port = 'many'\n", "grpc_port: 'many' is not a whole number"),
        ("host = true\n", "host: True is not text, a number or a list of text"),
        ("[server]\nhost = 'x'\n", "server: unknown setting"),
        ("public_url = 'ftp://x'\n", "public_url: 'ftp://x' is not an absolute http(s) URL"),
        ("host = \n", "not TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_key(
    tmp_path: Path, text: str, error: str
) -> None:
    file = tmp_path / "cxg.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as refused:
        Settings.load(file, {})
    assert str(refused.value).startswith(f"{file}: ") and error in str(refused.value)


def test_the_command_line_reads_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXG_KEYS_DIR", raising=False)
    ring = KeyRing.init(tmp_path / "keys" / "gateway")
    file = tmp_path / "cxg.toml"
    file.write_text(f'keys_dir = "{tmp_path / "keys"}"\n')
    runner = CliRunner()
    shown = runner.invoke(app, ["--config", str(file), "keys", "jwks"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["keys"][0]["kid"] == ring.active.kid
    monkeypatch.setenv("CXG_CONFIG", str(file))
    assert runner.invoke(app, ["keys", "jwks"]).exit_code == 0
    bad = runner.invoke(app, ["--config", str(tmp_path / "none.toml"), "keys", "jwks"])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


# -- warnings at start-up ---------------------------------------------------------------------


def test_a_development_gateway_on_loopback_is_not_warned_about(tmp_path: Path) -> None:
    assert startup_warnings(Settings(keys_dir=tmp_path)) == []
    assert startup_warnings(Settings(keys_dir=tmp_path, host="::1")) == []


def test_plaintext_on_an_open_address_is_warned_about(tmp_path: Path) -> None:
    public = "https://cxg.example.org"
    [warning] = startup_warnings(Settings(keys_dir=tmp_path, host="0.0.0.0", public_url=public))
    assert "CXG_HOST=0.0.0.0" in warning and "plaintext" in warning and "CXG_TLS_DIR" in warning
    assert (
        startup_warnings(
            Settings(keys_dir=tmp_path, host="0.0.0.0", public_url=public, tls_dir=tmp_path)
        )
        == []
    )


def test_no_public_url_on_an_open_address_is_warned_about(tmp_path: Path) -> None:
    [warning] = startup_warnings(Settings(keys_dir=tmp_path, host="cxg.internal", tls_dir=tmp_path))
    assert "CXG_PUBLIC_URL is unset" in warning and "http://cxg.internal:8080" in warning


def test_a_development_key_is_warned_about(tmp_path: Path) -> None:
    directory = tmp_path / "gateway"
    ring = KeyRing.init(directory)
    assert startup_warnings(Settings(keys_dir=tmp_path)) == []
    index = json.loads((directory / "keyring.json").read_text())
    index["keys"][0]["development"] = True
    (directory / "keyring.json").write_text(json.dumps(index))
    [warning] = startup_warnings(Settings(keys_dir=tmp_path))
    assert ring.active.kid in warning and "cxg demo" in warning and "cxg keys rotate" in warning
    KeyRing.rotate(directory)  # a new key, not a development one, is active
    assert startup_warnings(Settings(keys_dir=tmp_path)) == []
