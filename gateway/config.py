"""Gateway settings: one declaration per setting, read from the environment
(``Settings.from_env()``) or from a TOML file overridden by the environment
(``Settings.load()``); the README's table and ``cxg serve --help`` are generated from the same
declarations (``python -m gateway.config --markdown``), and ``startup_warnings`` names the ones
unsafe or useless in production.

To add a setting, declare a field of ``Settings`` with ``_setting(default, "meaning")``: its
variable is ``CXG_`` + the field name in capitals, its TOML key the field name, and it is parsed
by the type of its default (``str``, ``int``, ``float``, ``Path``); pass ``parse=`` for any other
type and ``shown=`` when the default needs words. Then regenerate the README's table.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.corrections.calendar import parse_days

DEFAULT_DATABASE_URL = "sqlite:///cxg.db"
MIB = 1024 * 1024
ENV_PREFIX = "CXG_"


class ConfigError(ValueError):
    """A setting's value (in the environment or a configuration file) is unusable; the message
    names the variable or the file and key."""


Parse = Callable[[str, str], Any]  # (text, where it came from) -> value


def _setting(
    default: Any = None,
    meaning: str = "",
    *,
    parse: Parse | None = None,
    shown: str | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A ``Settings`` field with what documents and reads it: its one-line meaning, how its text
    is parsed (by default from the type of ``default``) and how its default is shown."""
    metadata = {"meaning": meaning, "parse": parse or _parser_for(default), "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _parser_for(default: Any) -> Parse:
    kind = type(default)
    if kind not in (str, int, float) and not isinstance(default, Path):
        raise TypeError(f"no parser for a default of type {kind.__name__}: pass parse=")

    def parse(text: str, where: str) -> Any:
        try:
            return Path(text) if isinstance(default, Path) else kind(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: {text!r} is not {_KIND_NAMES[kind]}") from exc

    return parse


_KIND_NAMES = {str: "text", int: "a whole number", float: "a number"}


def _optional_path(text: str, where: str) -> Path | None:
    return Path(text) if text else None


def _origin(url: str, name: str) -> str:
    """An absolute http(s) base URL (a path prefix allowed), without query, fragment or
    userinfo; empty stays empty."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: {url!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(f"{name}: {url!r} must have no query, fragment or userinfo")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"{name}: {url!r} has no valid port") from exc
    return url.rstrip("/")


def _origins(text: str, where: str) -> tuple[str, ...]:
    return tuple(_origin(item.strip(), where) for item in text.split(",") if item.strip())


def _choice(*allowed: str) -> Parse:
    def parse(text: str, where: str) -> str:
        if text not in allowed:
            raise ConfigError(f"{where}: {text!r} is not one of {', '.join(allowed)}")
        return text

    return parse


def _days(text: str, where: str) -> tuple[date, ...]:
    try:
        return parse_days(text, where)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _legacy_ids(text: str, where: str) -> frozenset[str]:
    return frozenset(x.strip().upper() for x in text.split(",") if x.strip())


@dataclass(frozen=True)
class Settings:
    """Everything a gateway process is configured with. Defaults give a zero-set-up development
    gateway. Each field's meaning is what the README's table and ``cxg serve --help`` say."""

    database_url: str = _setting(
        DEFAULT_DATABASE_URL,
        "SQLite file (created by `cxg db upgrade` or `cxg demo`, mode 0600: it holds profiles and"
        " consents), or `postgresql://user@host/db` (psycopg 3: `pip install 'cxg[postgres]'`)",
    )
    # A request waits twice as long for database work before it is answered 503 / UNAVAILABLE
    # (gateway/storage/database.py).
    database_timeout_seconds: float = _setting(
        5.0,
        "connecting, waiting for a lock or a pooled connection, and (PostgreSQL) one statement;"
        " a request waits at most twice as long for the database, then is answered 503",
    )
    keys_dir: Path = _setting(
        Path("keys"),
        "`gateway/` signing keys, `partners/` partner files to import, `private/` demo partner keys",
    )
    pkcs11_module: Path | None = _setting(
        None,
        "PKCS#11 module (`.so`) of the HSM holding the gateway's signing and checkpoint keys"
        " (`pip install 'cxg[hsm]'`); unset: key files under `CXG_KEYS_DIR`",
        parse=_optional_path,
    )
    pkcs11_token_label: str = _setting("", "label of the token holding the keys")
    pkcs11_key_label: tuple[str, ...] = _setting(
        (),
        "labels of the gateway's signing keys in the token, comma-separated: the first signs, all"
        " are published in the JWKS (`cxg hsm rotate` prints the new list)",
        parse=lambda text, where: tuple(x.strip() for x in text.split(",") if x.strip()),
    )
    pkcs11_checkpoint_key_label: str = _setting(
        "cxg-checkpoint", "label of the Ed25519 key in the token that signs audit checkpoints"
    )
    pkcs11_pin_file: Path | None = _setting(
        None,
        "file holding the token's user PIN (mode 0600; the PIN is never read from a variable)",
        parse=_optional_path,
    )
    pkcs11_report_key_label: str = _setting(
        "",
        "label of the P-256 key in the token that signs credit reports, with `CXG_REPORT_CERT`;"
        " unset: `CXG_REPORT_KEY`",
    )
    report_cert: Path | None = _setting(
        None,
        "PEM certificate chain (signer first) of the key that signs credit reports (PAdES); unset:"
        " a development certificate from the PKI under `CXG_KEYS_DIR/pki`, made on first use",
        parse=_optional_path,
    )
    report_key: Path | None = _setting(
        None, "PEM private key (P-256) of `CXG_REPORT_CERT`", parse=_optional_path
    )
    report_tsa_url: str = _setting(
        "",
        "RFC 3161 time-stamping authority: credit reports are then signed PAdES B-T (a trusted"
        " time on the signature); unset: B-B",
    )
    report_font: Path | None = _setting(
        None,
        "TrueType font (CJK, Cyrillic and Latin) credit reports are set in; unset: WenQuanYi"
        " Micro Hei from Debian's fonts-wqy-microhei",
        parse=_optional_path,
    )
    gateway_id: str = _setting("cxg.qingdao.dev", "`iss` of everything the gateway signs")
    host: str = _setting(
        "127.0.0.1", "the address both ports listen on (`0.0.0.0` or `::`: every interface)"
    )
    grpc_port: int = _setting(50051, "the gRPC port")
    rest_port: int = _setting(8080, "the REST port")
    max_request_bytes: int = _setting(MIB, "larger requests: REST 413, gRPC `RESOURCE_EXHAUSTED`")
    max_import_bytes: int = _setting(
        256 * MIB,
        "one bulk file (`ImportProfiles`, `POST /v1/profiles:import`), spooled to disk; larger:"
        " 413 / `RESOURCE_EXHAUSTED`",
    )
    # What a client can make a connection hold before any credential is checked; counted as
    # bytes arrive, so nothing past a limit is buffered.
    max_header_bytes: int = _setting(
        16 * 1024,
        "a REST request head (request line and header fields) over the size: 431; gRPC metadata"
        " over the size: `RESOURCE_EXHAUSTED`",
    )
    max_url_bytes: int = _setting(8 * 1024, "a REST request target over the size: 414")
    max_header_count: int = _setting(100, "a REST request with more header fields: 431")
    header_timeout_seconds: float = _setting(
        10.0,
        "a REST request head not complete this long after the connection (or the request's"
        " first byte): 408 and the connection is closed",
    )
    body_idle_timeout_seconds: float = _setting(
        30.0, "a REST request body with no bytes this long: 408 and the connection is closed"
    )
    keep_alive_seconds: int = _setting(5, "an idle kept-alive REST connection is closed after this")
    max_connections: int = _setting(
        1000, "open REST connections; one more is answered 503 and closed"
    )
    tls_dir: Path | None = _setting(
        None,
        "a PKI folder (`cxg pki init`): both transports then serve mutual TLS, requiring a client"
        " certificate from that CA; unset: plaintext",
        parse=_optional_path,
    )
    accepted_legacy_ids: frozenset[str] = _setting(
        meaning="legacy identifiers accepted despite a failing check digit, comma-separated"
        " `SCHEME:VALUE`",
        parse=_legacy_ids,
        factory=frozenset,
    )
    trust_cache_seconds: float = _setting(
        1.0,
        "how long a process trusts its copy of a partner's standing changed by another process;"
        " `0` reads it on every call",
    )
    checkpoint_seconds: float = _setting(
        10.0, "how often the audit log's checkpoint is signed while the log grows"
    )
    # Callers without a valid token (gateway/service/flood.py).
    anonymous_rps: float = _setting(
        20.0,
        "per source address: refusals of callers without a valid token and token requests a"
        " second; past it refusals are only counted, and token requests answered 429 at once",
    )
    anonymous_burst: int = _setting(40, "per source address: the burst above `CXG_ANONYMOUS_RPS`")
    anonymous_leaves_per_second: float = _setting(
        100.0,
        "over all sources: refusals of callers without a valid token logged one by one (a"
        " refusal row and an audit leaf each) a second; the rest are counted into summaries",
    )
    refusal_summary_seconds: float = _setting(
        10.0,
        "how often the refusals counted and not logged one by one become one summary leaf and"
        " one refusal row (and at shutdown)",
    )
    country: str = _setting(
        "CN",
        "the gateway's own country (ISO 3166-1 alpha-2): its SCO-code issuer keys are that"
        " country's",
    )
    public_url: str = _setting(
        "",
        "where people and partners reach the REST port: SCO scan URLs (what QR codes hold), and"
        " the origin of a DPoP proof's `htu`; unset: the port actually bound (also as"
        " `localhost`), `https` under `CXG_TLS_DIR`. Set it whenever the gateway is reached"
        " from elsewhere",
        parse=_origin,
        shown="`http://HOST:REST_PORT`",
    )
    # What a request says about its own URL (Host, X-Forwarded-*, Forwarded) is never believed.
    allowed_origins: tuple[str, ...] = _setting(
        meaning="further origins (comma-separated base URLs, e.g. a proxy's"
        " `https://cxg.example.org`) a DPoP proof's `htu` may name",
        parse=_origins,
        factory=tuple,
    )
    # RFC 9449 sections 8 and 9 (gateway/trust/dpop.py DpopNonces).
    dpop_nonce: str = _setting(
        "optional",
        "`optional`: a DPoP proof may carry a server nonce (`DPoP-Nonce` of a token answer),"
        " which must then be valid; `required`: every proof must carry a valid one (else"
        " `use_dpop_nonce`)",
        parse=_choice("optional", "required"),
    )
    dpop_nonce_replay: str = _setting(
        "shared",
        "where the `jti` of a DPoP proof with a valid nonce is remembered: `shared` (the"
        " database, refused as a replay on every replica) or `local` (this process only, no"
        " database write; another replica may accept a copy within the proof's 60 s)",
        parse=_choice("shared", "local"),
    )
    log_format: str = _setting(
        "auto",
        "`json` (one object per line), `text` (readable), or `auto`: text on a terminal, else JSON",
        parse=_choice("auto", "json", "text"),
    )
    log_level: str = _setting(
        "info",
        "`debug`, `info` (one line per request), `warning` or `error`",
        parse=_choice("debug", "info", "warning", "error"),
    )
    metrics_port: int = _setting(
        0, "Prometheus metrics (`/metrics`) on this port, never a partner-facing one; 0: off"
    )
    metrics_host: str = _setting(
        "127.0.0.1", "the address the metrics port is bound to (loopback by default)"
    )
    shutdown_grace_seconds: float = _setting(
        20.0,
        "on SIGTERM: not ready at once, no new connections, calls in flight finish within this"
        " (both transports), then the last audit leaves and a final checkpoint",
    )
    events_allowed_networks: str = _setting(
        "",
        "networks a push endpoint may resolve to although they are not public, comma-separated"
        " (e.g. `127.0.0.1/32` for a receiver on this host); none by default: no SSRF",
    )
    events_allow_http: str = _setting(
        "no",
        "`yes`: push endpoints may be plain `http://` (development only); `no`: HTTPS only",
        parse=_choice("no", "yes"),
    )
    events_push_timeout_seconds: float = _setting(
        10.0, "a push delivery not answered 202 within this is retried"
    )
    events_retry_base_seconds: float = _setting(
        1.0,
        "the first retry of a push delivery; each next waits twice as long (with jitter), at"
        " most `CXG_EVENTS_RETRY_MAX_SECONDS`",
    )
    events_retry_max_seconds: float = _setting(300.0, "the longest wait between two retries")
    events_tls_ca_file: Path | None = _setting(
        None,
        "PEM file of the CAs a push endpoint's certificate must chain to; unset: Mozilla's CA"
        " bundle (certifi)",
        parse=_optional_path,
    )
    events_client_certificate: Path | None = _setting(
        None,
        "PEM certificate (with its chain) the gateway presents to push endpoints (mutual TLS,"
        " with `CXG_EVENTS_CLIENT_KEY`); unset: none",
        parse=_optional_path,
    )
    events_client_key: Path | None = _setting(
        None, "PEM private key of `CXG_EVENTS_CLIENT_CERTIFICATE`", parse=_optional_path
    )
    events_dead_after_seconds: float = _setting(
        259_200.0,
        "a delivery not acknowledged this long after it was made (pushed and never answered"
        " 202, or polled and never acknowledged) becomes a dead letter (`cxg events dead`,"
        " `cxg events replay`)",
    )
    events_poll_wait_seconds: float = _setting(
        10.0,
        "how long a poll (RFC 8936) without `returnImmediately` waits for an event before it"
        " is answered empty",
    )
    events_tick_seconds: float = _setting(
        0.5, "how often each gateway process looks for events to fan out and deliver"
    )
    federation_refresh_seconds: float = _setting(
        300.0,
        "how often each gateway process fetches its peers' federation documents and witnesses"
        " their logs: a peer's key rotation or revocation takes effect here within this (and"
        " the trust list's minute of cache)",
    )
    federation_document_valid_seconds: float = _setting(
        86_400.0,
        "how long this gateway's federation document is valid (its `nextUpdate`); a peer that"
        " cannot fetch a newer one stops trusting its keys after this",
    )
    federation_allow_http: str = _setting(
        "no",
        "`yes`: peers may be registered at plain `http://` URLs (development only); `no`: HTTPS"
        " only",
        parse=_choice("no", "yes"),
    )
    federation_timeout_seconds: float = _setting(
        10.0, "a peer's document, checkpoint or proof not answered within this is a failed refresh"
    )
    federation_events_seconds: float = _setting(
        10.0,
        "how often each gateway process polls its peers for events about the companies it"
        " relayed to its partners (forwarded to those subscribed here)",
    )
    federation_cache_seconds: float = _setting(
        60.0,
        "how long a peer's answer to a relayed lookup is kept and served again, for the purposes"
        " whose policy allows it (trade_due_diligence); 0: never",
    )
    federation_stale_seconds: float = _setting(
        900.0,
        "how old a kept answer may be and still be served while the peer cannot be reached, for"
        " the same purposes (its audit leaf says it was stale); 0: never",
    )
    federation_tls_ca_file: Path | None = _setting(
        None,
        "PEM file of the CAs a peer's certificate must chain to; unset: Mozilla's CA bundle"
        " (certifi)",
        parse=_optional_path,
    )
    federation_client_certificate: Path | None = _setting(
        None,
        "PEM certificate (with its chain) the gateway presents to its peers (mutual TLS, with"
        " `CXG_FEDERATION_CLIENT_KEY`); unset: none",
        parse=_optional_path,
    )
    federation_client_key: Path | None = _setting(
        None, "PEM private key of `CXG_FEDERATION_CLIENT_CERTIFICATE`", parse=_optional_path
    )
    dispute_answer_days: int = _setting(
        20,
        "days a publisher has to answer a dispute, from the day after filing (20 days: 征信业管理条例"
        " Art. 25); an open dispute past its due date is overdue (`cxg disputes list --overdue`)",
    )
    dispute_days_counted: str = _setting(
        "calendar",
        "`calendar`: calendar days, a due date on a rest day moved to the next working day;"
        " `working`: working days of the calendar below (e.g. 3 for Shandong public credit"
        " information, 山东省社会信用条例 Art. 39)",
        parse=_choice("calendar", "working"),
    )
    calendar_holidays: tuple[date, ...] = _setting(
        (),
        "public holidays that are not working days: ISO dates or ranges `first..last`,"
        " comma-separated (e.g. `2027-02-06..2027-02-14`)",
        parse=_days,
        shown="none",
    )
    calendar_working_weekend_days: tuple[date, ...] = _setting(
        (),
        "Saturdays or Sundays that are working days (adjusted working days, 调休), as above",
        parse=_days,
        shown="none",
    )
    notice_lookback_days: int = _setting(
        730,
        "a dispute answered or a record repaired is sent to every partner that received the"
        " profile in this many days before, subscribed or not",
    )
    dispute_sco_review: str = _setting(
        "subject",
        "which disputes put the company's valid SCO codes under review until answered:"
        " `subject` (filed by the company itself), `any`, or `none`",
        parse=_choice("subject", "any", "none"),
    )
    workers: int = _setting(
        1,
        "gateway processes sharing both ports (SO_REUSEPORT) and the database, under one"
        " supervisor (`cxg serve --workers`); 1: a single process, no supervisor",
    )

    @property
    def gateway_keys_dir(self) -> Path:
        return self.keys_dir / "gateway"

    @property
    def dev_pki_dir(self) -> Path:
        """The development PKI (``cxg pki init``), where a report certificate is made when none
        is configured."""
        return self.keys_dir / "pki"

    @property
    def scan_base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.rest_port}"

    def effective(self) -> dict[str, Any]:
        """Every setting as the start-up log line shows it. A database URL's password is the
        one secret a setting can hold (the token PIN is read from a file): it is left out."""
        shown: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "database_url":
                value = _without_password(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple | frozenset):
                value = sorted(value) if isinstance(value, frozenset) else list(value)
                value = [v.isoformat() if isinstance(v, date) else v for v in value]
            shown[item.name] = value
        return shown

    def rest_origins(self, bound_port: int) -> tuple[str, ...]:
        """The base URLs a REST request may be addressed to, public one first: public_url, or
        the address and port actually bound (and localhost) when it is empty; then
        allowed_origins."""
        if self.public_url:
            own = [self.public_url]
        else:
            scheme = "https" if self.tls_dir else "http"
            host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
            host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
            own = [f"{scheme}://{host}:{bound_port}", f"{scheme}://localhost:{bound_port}"]
        return tuple(dict.fromkeys(origin.rstrip("/") for origin in (*own, *self.allowed_origins)))

    @property
    def partners_dir(self) -> Path:
        return self.keys_dir / "partners"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The defaults, overridden by the ``CXG_*`` variables set in ``env`` (os.environ)."""
        return cls.load(None, env)

    @classmethod
    def load(cls, config_file: Path | None, env: Mapping[str, str] | None = None) -> Settings:
        """The defaults, overridden by ``config_file`` (TOML: ``field_name = value``), overridden
        by the ``CXG_*`` variables set in ``env`` (os.environ)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if config_file is not None:
            values.update(_read_toml(config_file))
        for spec in SETTINGS:
            if spec.env in env:
                values[spec.name] = spec.parse(env[spec.env], spec.env)
        return cls(**values)


@dataclass(frozen=True)
class SettingSpec:
    """One setting as the documentation and the readers see it."""

    name: str
    env: str
    meaning: str
    default: str  # as the documentation shows it
    parse: Parse


def _specs() -> Iterator[SettingSpec]:
    for f in fields(Settings):
        default = f.default_factory() if callable(f.default_factory) else f.default
        yield SettingSpec(
            name=f.name,
            env=ENV_PREFIX + f.name.upper(),
            meaning=f.metadata["meaning"],
            default=f.metadata["shown"] or _shown(default),
            parse=f.metadata["parse"],
        )


def _shown(default: Any) -> str:
    if default in (None, "", (), frozenset()):
        return "unset"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


SETTINGS: tuple[SettingSpec, ...] = tuple(_specs())


def _read_toml(path: Path) -> dict[str, Any]:
    """The settings in a TOML file, parsed as their variables are. Keys are field names
    (``database_url``), optionally as their variables are spelt (``CXG_DATABASE_URL``)."""
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from exc
    by_name = {spec.name: spec for spec in SETTINGS}
    values: dict[str, Any] = {}
    for key, value in document.items():
        name = key.lower().removeprefix(ENV_PREFIX.lower())
        spec = by_name.get(name)
        where = f"{path}: {key}"
        if spec is None:
            near = difflib.get_close_matches(name, by_name, n=1)
            suggestion = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(f"{where}: unknown setting{suggestion}")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = ",".join(value)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
        else:
            raise ConfigError(f"{where}: {value!r} is not text, a number or a list of text")
        values[name] = spec.parse(text, where)
    return values


def settings_table() -> str:
    """The README's table of settings (Markdown)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.env}` | {s.default} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def settings_help() -> str:
    """The settings as plain text, for ``cxg serve --help``."""
    return "\n".join(f"{s.env} (default {s.default.strip('`')}): {s.meaning}" for s in SETTINGS)


# -- start-up warnings ------------------------------------------------------------------------

# Written into the keyring's entry of a gateway key that ``cxg demo`` generated.
DEVELOPMENT_KEY_MARK = "development"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: reachable from elsewhere as far as we can tell


def startup_warnings(settings: Settings) -> list[str]:
    """What is unsafe or useless in production about these settings, one line each."""
    warnings = []
    exposed = not is_loopback(settings.host)
    if exposed and settings.tls_dir is None:
        warnings.append(
            f"CXG_HOST={settings.host} is not a loopback address and CXG_TLS_DIR is unset: gRPC"
            " and REST are served in plaintext (hint: set CXG_TLS_DIR to a PKI folder,"
            " cxg pki init)"
        )
    if exposed and not settings.public_url:
        warnings.append(
            f"CXG_PUBLIC_URL is unset: SCO QR codes and scan URLs point at"
            f" {settings.scan_base_url}, the address bound (hint: set CXG_PUBLIC_URL to the"
            " URL people reach the REST port at)"
        )
    if settings.report_cert is None and (settings.dev_pki_dir / "report-signer.pem").exists():
        warnings.append(
            f"credit reports are signed by the development certificate in {settings.dev_pki_dir},"
            " which no reader trusts (hint: set CXG_REPORT_CERT and CXG_REPORT_KEY, or"
            " CXG_PKCS11_REPORT_KEY_LABEL)"
        )
    active = _active_key_entry(settings.gateway_keys_dir)
    if active is not None and active.get(DEVELOPMENT_KEY_MARK):
        warnings.append(
            f"the active gateway signing key {active.get('kid')} in {settings.gateway_keys_dir}"
            " was generated by cxg demo, a development key (hint: cxg keys rotate)"
        )
    return warnings


def _without_password(url: str) -> str:
    """``url`` without a password, in its user part or (libpq) its query."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)._replace(password=None).difference_update_query(["password"])
    return parsed.render_as_string(hide_password=False)


def warn_at_startup(settings: Settings) -> None:
    """Write ``startup_warnings`` to stderr, one line each."""
    for line in startup_warnings(settings):
        print(f"cxg: warning: {line}", file=sys.stderr, flush=True)


def _active_key_entry(directory: Path) -> dict[str, Any] | None:
    try:
        index = json.loads((directory / "keyring.json").read_text())
        entry: dict[str, Any] = next(k for k in index["keys"] if k["kid"] == index["active"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None  # no usable keyring: the gateway refuses to start over that itself
    return entry


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        print(settings_table(), end="")
    else:
        print(settings_help())
