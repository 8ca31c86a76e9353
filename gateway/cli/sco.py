"""``cxg sco``: issue SCO codes, change their status, export the signed lists, and verify a
code offline."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli import _common
from gateway.cli._common import T, _fail, _with_database, check_output, load_settings, usage
from gateway.config import Settings
from gateway.errors import GatewayError

sco_app = typer.Typer(
    no_args_is_help=True,
    help="SCO codes: issue, change status, export the signed lists, verify offline.",
)

_STATE_NAMES = {
    "revoke": "REVOKED",
    "suspend": "SUSPENDED",
    "review": "UNDER_REVIEW",
    "reinstate": "VALID",
}
AsOperator = Annotated[
    str | None,
    typer.Option("--as", help="The operator partner acting (default: the first registered one)."),
]


def _sco_as_operator(operator_id: str | None, action: Callable[[Any, Any], T]) -> T:
    """Run ``action(service, operator)`` on CXG_DATABASE_URL as an operator partner."""
    from gateway.service.sco import ScoService
    from gateway.storage.partners import PartnerStore

    def run(settings: Settings, db: Any) -> T:
        operators = [
            p for p in PartnerStore(db).all() if "operator" in p.roles and p.status == "active"
        ]
        chosen = [p for p in operators if operator_id in (None, p.id)]
        if not chosen:
            wanted = f"operator {operator_id!r}" if operator_id else "operator partner"
            raise _fail(
                f"database {_common.session.database}: no active {wanted} is registered",
                hint="cxg partners list; is CXG_DATABASE_URL the gateway's database?",
            )
        return action(ScoService.from_settings(settings, db), chosen[0])

    return _with_database(run)


@sco_app.command("issue")
def sco_issue(
    subject: Annotated[
        str, typer.Argument(help="The company, as SCHEME:VALUE (AEO:CN3702960123).")
    ],
    days: Annotated[int, typer.Option(min=1, help="Days the code is valid.")] = 365,
    languages: Annotated[
        str, typer.Option(help="The name's languages the code carries: zh,en,ru or fewer.")
    ] = "zh,en,ru",
    png: Annotated[Path | None, typer.Option(help="Write the scan URL's QR code as PNG.")] = None,
    svg: Annotated[Path | None, typer.Option(help="Write the scan URL's QR code as SVG.")] = None,
    operator_id: AsOperator = None,
) -> None:
    """Issue an SCO code for a company with a profile; print it, its size and its scan URL."""
    from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
    from gateway.sco import qr_png, qr_svg

    scheme, sep, value = subject.partition(":")
    if not sep or not scheme or not value:
        raise usage(f"subject {subject!r}: not SCHEME:VALUE", hint="e.g. AEO:CN3702960123")
    # Before the code is issued: a code is stored when issued, so nothing may fail after it.
    for path, option in ((png, "--png"), (svg, "--svg")):
        if path is not None:
            check_output(path, option)
    request = sco_pb.IssueScoCodeRequest(
        subject={"scheme": scheme, "value": value},
        valid_days=days,
        languages=[x.strip() for x in languages.split(",") if x.strip()],
    )
    code = _sco_as_operator(operator_id, lambda sco, caller: sco.issue_code(request, caller))
    typer.echo(code.code)
    typer.echo(f"{code.name}: {len(code.code)} characters, QR version {code.qr_version}-M")
    typer.echo(f"scan URL: {code.url}")
    for path, render in ((png, qr_png), (svg, qr_svg)):
        if path is not None:
            path.write_bytes(render(code.url).data)
            typer.echo(f"wrote {path}")


def _sco_set_state(code_id: str, verb: str, operator_id: str | None) -> None:
    from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb

    name = code_id if code_id.startswith("scoCodes/") else f"scoCodes/{code_id}"
    request = sco_pb.SetScoCodeStatusRequest(name=name, state=f"CODE_STATE_{_STATE_NAMES[verb]}")
    code = _sco_as_operator(operator_id, lambda sco, caller: sco.set_status(request, caller))
    typer.echo(f"{code.name}: {_STATE_NAMES[verb]}")


CodeId = Annotated[str, typer.Argument(help="The code id (16 hex digits) or scoCodes/{id}.")]


@sco_app.command("revoke")
def sco_revoke(code_id: CodeId, operator_id: AsOperator = None) -> None:
    """Revoke a code for good: a revoked code can never change state again."""
    _sco_set_state(code_id, "revoke", operator_id)


@sco_app.command("suspend")
def sco_suspend(code_id: CodeId, operator_id: AsOperator = None) -> None:
    """Suspend a valid or under-review code until it is reinstated."""
    _sco_set_state(code_id, "suspend", operator_id)


@sco_app.command("review")
def sco_review(code_id: CodeId, operator_id: AsOperator = None) -> None:
    """Put a valid or suspended code under review (verifiers are told to take care)."""
    _sco_set_state(code_id, "review", operator_id)


@sco_app.command("reinstate")
def sco_reinstate(code_id: CodeId, operator_id: AsOperator = None) -> None:
    """Make a suspended or under-review code valid again (never a revoked one)."""
    _sco_set_state(code_id, "reinstate", operator_id)


Output = Annotated[Path | None, typer.Option("-o", "--output", help="Write it here, not stdout.")]


def _sco_list(which: str, output: Path | None) -> None:
    from gateway.service.sco import ScoService

    def signed(settings: Settings, db: Any) -> str:
        sco = ScoService.from_settings(settings, db)
        _, jws = sco.trust_list() if which == "trust" else sco.status_list()
        return jws

    if output is not None:
        check_output(output, "--output")
    jws = _with_database(signed)
    if output is None:
        typer.echo(jws)
    else:
        output.write_text(jws + "\n")
        typer.echo(f"wrote {output}")


@sco_app.command("trust-list")
def sco_trust_list(output: Output = None) -> None:
    """The trust list of SCO issuer keys, as the JWS the gateway signs."""
    _sco_list("trust", output)


@sco_app.command("status-list")
def sco_status_list(output: Output = None) -> None:
    """The status list of this gateway's SCO codes, as the JWS the gateway signs."""
    _sco_list("status", output)


@sco_app.command("verify")
def sco_verify(
    code: Annotated[str, typer.Argument(help="The code's text, or the scan URL its QR holds.")],
    trust_list: Annotated[
        Path, typer.Option("--trust-list", help="The trust list JWS (cxg sco trust-list).")
    ],
    status_list: Annotated[
        Path | None,
        typer.Option("--status-list", help="The issuer's status list JWS (cxg sco status-list)."),
    ] = None,
    anchor: Annotated[
        Path | None,
        typer.Option(help="JWKS the lists must be signed with (default: this gateway's keys)."),
    ] = None,
) -> None:
    """Verify a code offline, with no database and no network: the lists are checked against the
    anchor keys, then the code against the lists. Exit status 0 only when VALID."""
    from gateway.service.sco import code_in
    from gateway.signing import KeyRing

    now = datetime.now(UTC)
    if anchor is None:
        try:
            anchor_jwks: Any = KeyRing.from_settings(load_settings()).jwks()
        except GatewayError as exc:
            raise _fail(f"no anchor keys: {exc} (give --anchor JWKS_FILE)") from exc
    else:
        try:
            anchor_jwks = json.loads(anchor.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise usage(f"--anchor {anchor}: not a readable JWKS: {exc}") from exc
    trust = _sco_signed_list(trust_list, "trust list", anchor_jwks, now)
    status = None
    if status_list is not None:
        status = _sco_signed_list(status_list, "status list", anchor_jwks, now)
    _sco_print(code_in(code), trust, status, now)


def _sco_signed_list(path: Path, what: str, anchor_jwks: Any, now: datetime) -> Any:
    """A trust or status list from a file holding its JWS (or the REST answer {"jws": ...}),
    verified against the anchor keys."""
    from gateway.sco import StatusList, TrustList

    try:
        text = path.read_text(encoding="utf-8").strip()
        if text.startswith("{"):
            text = json.loads(text)["jws"]
        if what == "trust list":
            return TrustList.verify(text, anchor_jwks, now)
        return StatusList.verify(text, anchor_jwks, now)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise usage(f"{what} {path}: unreadable: {exc}") from exc
    except GatewayError as exc:
        raise _fail(f"{what} {path} refused: {exc}") from exc


def _sco_print(code: str, trust: Any, status: Any, now: datetime) -> None:
    from gateway.sco import verify

    checked = verify(code, trust, status, now=now)
    typer.echo(checked.result.value)
    for reason in checked.reasons:
        typer.echo(f"  {reason}")
    claims = checked.claims
    if claims is not None:
        names = " / ".join(n for n in (claims.names.zh, claims.names.en, claims.names.ru) if n)
        aeo = f"yes ({claims.aeo_type})" if claims.aeo else "no"
        for label, value in (
            ("code id", claims.code_id),
            ("company", names),
            ("identifiers", ", ".join(f"{s} {v}" for s, v in claims.subject_ids)),
            ("country", claims.country),
            ("grade", claims.grade_bucket or "none"),
            ("AEO", aeo),
            ("valid", f"{claims.issued_at.isoformat()} .. {claims.expires_at.isoformat()}"),
            ("issuer", claims.issuer),
            ("status index", str(claims.status_index)),
        ):
            typer.echo(f"  {label}: {value}")
    if not checked.valid:
        raise typer.Exit(1)


def issue_demo_code(settings: Settings, db: Any, first_id: str, publishers: dict[str, Any]) -> Any:
    """A fresh SCO code for the first demo company, issued as the demo operator."""
    from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
    from gateway.service.sco import ScoService

    scheme, value = first_id.split()
    request = sco_pb.IssueScoCodeRequest(subject={"scheme": scheme, "value": value})
    return ScoService.from_settings(settings, db).issue_code(request, publishers["demo-operator"])
