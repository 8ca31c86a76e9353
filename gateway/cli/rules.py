"""``cxg rules``: test, sign, activate, list and diff mutual-recognition rule packs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli._common import _fail, _with_database, check_output, usage
from gateway.config import Settings
from gateway.errors import GatewayError

rules_app = typer.Typer(
    no_args_is_help=True, help="Mutual-recognition rule packs: test, sign, activate, diff."
)

SHIPPED_PACKS = Path(__file__).resolve().parents[2] / "rules"
PackFiles = Annotated[
    list[Path], typer.Argument(exists=True, dir_okay=False, help="Rule pack files (TOML).")
]


def activate_shipped_packs(settings: Settings, db: Any) -> str:
    """Sign and activate every pack shipped in ``rules/``; re-activating an active pack is a
    no-op. A pack the service refuses (e.g. expired) is reported and skipped."""
    files = sorted(SHIPPED_PACKS.glob("*.toml"))
    if not files:
        return ""
    service = _rule_service(settings, db)
    active = 0
    for file in files:
        try:
            service.activate(service.sign(file.read_bytes()))
            active += 1
        except GatewayError as exc:
            typer.echo(f"note: rule pack {file.name} not activated: {exc}", err=True)
    return f"\n  rule packs: {active} of {len(files)} in {SHIPPED_PACKS} active"


def _rule_service(settings: Settings, db: Any) -> Any:
    from gateway.service.rules import RuleService

    return RuleService.from_settings(settings, db)


def _read_pack_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise usage(f"{path}: cannot read it: {exc.strerror}") from exc


@rules_app.command("test")
def rules_test(packs: PackFiles) -> None:
    """Parse each pack and run its own tests (no database, no keys): one line per test and a
    summary. Exit 0 only when every pack parses and every test passes."""
    from gateway.errors import RulePackError
    from gateway.rules import RulePack

    passed = failed = broken = 0
    for path in packs:
        try:
            pack = RulePack.from_bytes(_read_pack_file(path))
        except RulePackError as exc:
            typer.echo(f"{path}: malformed: {exc}")
            broken += 1
            continue
        typer.echo(f"{path}: {pack.name} ({pack.type}) sha256={pack.sha256}")
        failures = {f.test: f for f in pack.run_tests()}
        for test in pack.tests:
            failure = failures.get(test.name)
            if failure is None:
                typer.echo(f"  pass  {test.name}")
                passed += 1
            else:
                typer.echo(f"  FAIL  {test.name}: expected {failure.expected}, got {failure.got}")
                failed += 1
    typer.echo(
        f"{len(packs)} packs ({broken} malformed), {passed + failed} tests:"
        f" {passed} passed, {failed} failed"
    )
    if failed or broken:
        raise typer.Exit(1)


@rules_app.command("sign")
def rules_sign(
    pack: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The pack (TOML).")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Where to write the JWS (PACK.jws).")
    ] = None,
) -> None:
    """Sign a pack with the gateway's operator key (its tests run at activation)."""
    data = _read_pack_file(pack)
    target = check_output(out or pack.with_name(pack.name + ".jws"), "--out")
    signed = _with_database(lambda s, db: _rule_service(s, db).sign(data))
    target.write_text(signed + "\n", encoding="ascii")
    typer.echo(f"signed {pack} -> {target}")


@rules_app.command("activate")
def rules_activate(
    signed: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, help="Signed packs (cxg rules sign)."),
    ],
) -> None:
    """Verify, test and activate each signed pack, in order; stop at the first refused."""

    def activate(settings: Settings, db: Any) -> None:
        service = _rule_service(settings, db)
        for path in signed:
            try:
                text = _read_pack_file(path).decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise _fail(f"{path}: not a signed pack (a JWS by the operator key)") from exc
            try:
                pack = service.activate(text)
            except GatewayError as exc:
                raise _fail(f"{path}: refused: {exc}") from exc
            typer.echo(f"activated {pack.name} sha256={pack.sha256}")

    _with_database(activate)


@rules_app.command("list")
def rules_list() -> None:
    """The active packs: id@version, type, validity, sha256."""
    listed = _with_database(lambda s, db: _rule_service(s, db).list_packs())
    if not listed.packs:
        typer.echo("no active rule packs")
    for info in listed.packs:
        sha256 = info.name.removeprefix("rulePacks/")
        typer.echo(
            f"{info.id}@{info.version}\t{info.type}\t{info.valid_from}..{info.valid_to}"
            f"\tsha256={sha256}"
        )


@rules_app.command("diff")
def rules_diff(
    old: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The pack now.")],
    new: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Its new version.")],
    on: Annotated[
        str, typer.Option("--date", help="Decide as of this day (YYYY-MM-DD); default today UTC.")
    ] = "",
) -> None:
    """Dry run: the decisions over the stored profiles that change from OLD to NEW (TOML or
    signed .jws files of one type). Nothing is written."""

    from gateway.rules import RulePack
    from gateway.service.rules_diff import diff_packs
    from gateway.storage import ProfileStore

    try:
        day = date.fromisoformat(on) if on else datetime.now(UTC).date()
    except ValueError as exc:
        raise usage(f"--date: expected YYYY-MM-DD, got {on!r}") from exc

    def run(settings: Settings, db: Any) -> Any:
        def load(path: Path) -> RulePack:
            data = _read_pack_file(path)
            try:
                if path.suffix == ".jws":
                    text = data.decode("utf-8", "replace").strip()
                    return _rule_service(settings, db).verify(text)  # type: ignore[no-any-return]
                return RulePack.from_bytes(data)
            except GatewayError as exc:
                raise _fail(f"{path}: {exc}") from exc

        before, after = load(old), load(new)
        return before, after, diff_packs(ProfileStore(db), before, after, day)

    before, after, rows = _with_database(run)
    typer.echo(f"{before.name} -> {after.name} as of {day.isoformat()}")
    for row in rows:
        typer.echo(
            f"{row.name}\t{row.subject}\t{row.question}\t"
            f"{row.old.outcome} ({row.old.reason.rule}{_bucket(row.old)}) -> "
            f"{row.new.outcome} ({row.new.reason.rule}{_bucket(row.new)})"
        )
    typer.echo(f"{len(rows)} decisions change")


def _bucket(decision: Any) -> str:
    return f", {decision.bucket} {decision.ordinal}" if decision.bucket else ""
