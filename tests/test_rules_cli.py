"""``cxg rules``: an operator tests, signs, activates and lists rule packs, and sees what a new
version of a pack would change over the stored profiles before activating it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from gateway.cli import app
from gateway.config import Settings
from gateway.service import ProfileExchange
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from tests.support import LEI, USCC, USCC_2, TestPartner, profile, publish

runner = CliRunner()

HEADER = """
id = "{id}"
version = "{version}"
type = "{type}"
engine = "cel/1"
valid_from = 2020-01-01
valid_to = "{valid_to}"
arrangement = "test arrangement"
{top}
[description]
zh = "测试"
en = "test"
ru = "тест"
"""
REASON = 'reason = { zh = "理由", en = "reason", ru = "причина" }'


def aeo_pack(
    version: str = "1.0.0",
    *,
    b: str = '"DE", "FR"',
    advanced_only: bool = False,
    expect_authorised: str = "RECOGNIZED",
    valid_to: str = "",
) -> str:
    """An AEO pack: suspended -> NOT_RECOGNIZED, authorised -> RECOGNIZED; with
    ``advanced_only`` an authorisation that is not CN_ADVANCED is not recognized."""
    advanced = f"""
[[rules]]
id = "not-advanced"
when = 'aeo.status == "authorised" && aeo.type != "CN_ADVANCED"'
outcome = "NOT_RECOGNIZED"
{REASON}
"""
    return (
        HEADER.format(
            id="aeo-test", version=version, type="aeo-recognition", valid_to=valid_to, top=""
        )
        + f"""
[parties]
a = ["CN"]
b = [{b}]
[[rules]]
id = "suspended"
when = 'aeo.status == "suspended"'
outcome = "NOT_RECOGNIZED"
{REASON}
{advanced if advanced_only else ""}
[[rules]]
id = "authorised"
when = 'aeo.status == "authorised"'
outcome = "RECOGNIZED"
benefits = ["fewer-inspections"]
{REASON}
[[tests]]
name = "an authorised operator is recognized"
date = 2020-06-01
facts = {{ aeo = {{ status = "authorised", type = "CN_ADVANCED" }}, data_date = 2020-06-01 }}
expect = "{expect_authorised}"
rule = "authorised"
[[tests]]
name = "a suspended operator is not"
date = 2020-06-01
facts = {{ aeo = {{ status = "suspended" }}, data_date = 2020-06-01 }}
expect = "NOT_RECOGNIZED"
rule = "suspended"
"""
    )


def grade_pack(version: str = "1.0.0", *, b_ordinal: int = 6) -> str:
    return (
        HEADER.format(
            id="grades-test",
            version=version,
            type="grade-equivalence",
            valid_to="",
            top='schemes = ["CN_TAX"]',
        )
        + f"""
[[grades]]
scheme = "CN_TAX"
grade = "A"
ordinal = 8
bucket = "HIGH"
[[grades]]
scheme = "CN_TAX"
grade = "B"
ordinal = {b_ordinal}
bucket = "MEDIUM"
[[tests]]
name = "A is high"
date = 2020-06-01
facts = {{ rating = {{ scheme = "CN_TAX", grade = "A" }} }}
expect = "RECOGNIZED"
"""
    )


@pytest.fixture
def cli(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The CLI pointed at the test's database and gateway keys."""
    monkeypatch.setenv("CXG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(settings.keys_dir))
    return db


def cxg(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def signed(path: Path) -> Path:
    result = cxg("rules", "sign", path)
    assert result.exit_code == 0, result.output
    return path.with_name(path.name + ".jws")


# -- rules test -------------------------------------------------------------------------------


def test_rules_test_runs_the_embedded_tests_without_database_or_keys(tmp_path: Path) -> None:
    good = write(tmp_path / "good.toml", aeo_pack())
    result = cxg("rules", "test", good)
    assert result.exit_code == 0, result.output
    assert "  pass  an authorised operator is recognized" in result.output
    assert "  pass  a suspended operator is not" in result.output
    assert "1 packs (0 malformed), 2 tests: 2 passed, 0 failed" in result.output


def test_rules_test_fails_a_wrong_expectation_and_names_the_test(tmp_path: Path) -> None:
    good = write(tmp_path / "good.toml", grade_pack())
    wrong = write(tmp_path / "wrong.toml", aeo_pack(expect_authorised="OPEN"))
    result = cxg("rules", "test", good, wrong)
    assert result.exit_code == 1, result.output
    assert (
        "  FAIL  an authorised operator is recognized: expected OPEN by authorised,"
        " got RECOGNIZED by authorised" in result.output
    )
    assert "  pass  a suspended operator is not" in result.output
    assert "2 packs (0 malformed), 3 tests: 2 passed, 1 failed" in result.output


def test_rules_test_names_the_field_of_a_malformed_pack(tmp_path: Path) -> None:
    broken = write(
        tmp_path / "broken.toml", aeo_pack().replace('"RECOGNIZED"\nbenefits', '"YES"\nbenefits')
    )
    result = cxg("rules", "test", broken)
    assert result.exit_code == 1, result.output
    assert f"{broken}: malformed: /rules/1/outcome: outcome must be one of" in result.output
    not_toml = write(tmp_path / "not.toml", "id = ")
    result = cxg("rules", "test", not_toml)
    assert result.exit_code == 1 and "malformed: /: not a UTF-8 TOML file" in result.output


# -- sign, activate, list ---------------------------------------------------------------------


def test_sign_then_activate_and_list_shows_it(tmp_path: Path, cli: Database) -> None:
    assert cxg("rules", "list").output == "no active rule packs\n"
    pack = write(tmp_path / "aeo.toml", aeo_pack())
    jws = signed(pack)
    assert jws.read_text().count(".") == 2
    out = tmp_path / "elsewhere.jws"
    assert cxg("rules", "sign", write(tmp_path / "g.toml", grade_pack()), "-o", out).exit_code == 0
    result = cxg("rules", "activate", jws, out)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("activated aeo-test@1.0.0 sha256=")
    assert lines[1].startswith("activated grades-test@1.0.0 sha256=")
    sha = lines[0].rsplit("=", 1)[1]
    listed = cxg("rules", "list")
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        f"aeo-test@1.0.0\taeo-recognition\t2020-01-01..\tsha256={sha}",
        f"grades-test@1.0.0\tgrade-equivalence\t2020-01-01..\tsha256={lines[1].rsplit('=', 1)[1]}",
    ]
    again = cxg("rules", "activate", jws)  # re-activating the active pack is harmless
    assert again.exit_code == 0 and cxg("rules", "list").output == listed.output


def tampered(jws: Path) -> Path:
    header, payload, signature = jws.read_text().strip().split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    return write(jws.with_name("tampered.jws"), f"{header}.{flipped}.{signature}")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unsigned", "refused: /: not a signed pack (a JWS by the operator key)"),
        ("tampered", "refused: /: the pack's signature does not match: tampered"),
        ("failing", "refused: /tests: 1 of the pack's tests fail: an authorised operator"),
        ("expired", "refused: /valid_to: the pack expired on 2021-12-31"),
    ],
)
def test_activate_refuses_and_stores_nothing(
    tmp_path: Path, cli: Database, case: str, message: str
) -> None:
    active = signed(write(tmp_path / "active.toml", grade_pack()))
    assert cxg("rules", "activate", active).exit_code == 0
    before = cxg("rules", "list").output
    if case == "unsigned":
        target = write(tmp_path / "plain.toml", aeo_pack())
    elif case == "tampered":
        target = tampered(signed(write(tmp_path / "aeo.toml", aeo_pack())))
    elif case == "failing":
        target = signed(write(tmp_path / "aeo.toml", aeo_pack(expect_authorised="OPEN")))
    else:
        target = signed(write(tmp_path / "aeo.toml", aeo_pack(valid_to="2021-12-31")))
    result = cxg("rules", "activate", target)
    assert result.exit_code == 1, result.output
    assert f"{target}: {message}" in result.output
    assert "activated" not in result.output
    assert cxg("rules", "list").output == before


# -- diff -------------------------------------------------------------------------------------


def company(
    ids: list[dict[str, str]], name: str, aeo: list[dict[str, str]], grade: str
) -> dict[str, Any]:
    document = profile(aeo=aeo, ratings=[{"scheme": "CN_TAX", "grade": grade}])
    document["subject"]["ids"] = ids
    document["subject"]["legalName"] = {"en": name}
    return document


def aeo(number: str, type_: str, status: str) -> dict[str, str]:
    return {
        "programCountry": "CN",
        "authorisationNumber": number,
        "type": type_,
        "status": f"AEO_STATE_{status}",
    }


@pytest.fixture
def published(cli: Database, settings: Settings, partners: dict[str, TestPartner]) -> None:
    """Three companies with CN AEO authorisations (advanced, general, suspended) and CN_TAX
    grades A, B, A; and one with no AEO and a scale no test pack covers."""
    exchange = ProfileExchange.from_settings(settings, cli, PartnerStore(cli))
    customs = partners["cn-customs"]
    publish(exchange, customs, company(
        [{"scheme": "CN_USCC", "value": USCC}], "Advanced Co",
        [aeo("CN1111111111", "CN_ADVANCED", "AUTHORISED")], "A",
    ))  # fmt: skip
    publish(exchange, customs, company(
        [{"scheme": "CN_USCC", "value": USCC_2}], "General Co",
        [aeo("CN2222222222", "CN_GENERAL", "AUTHORISED")], "B",
    ))  # fmt: skip
    publish(exchange, customs, company(
        [{"scheme": "LEI", "value": LEI}], "Suspended Co",
        [aeo("CN3333333333", "CN_ADVANCED", "SUSPENDED")], "A",
    ))  # fmt: skip
    other = profile(aeo=[], ratings=[{"scheme": "SP_LT", "grade": "BBB"}])
    other["subject"]["ids"] = [{"scheme": "RU_INN", "value": "7708123450"}]
    other["subject"]["country"] = "RU"
    publish(exchange, customs, other)


def rows(result: Result) -> list[str]:
    return result.output.splitlines()[1:-1]


def test_diff_lists_exactly_the_aeo_decisions_that_change(tmp_path: Path, published: None) -> None:
    old = write(tmp_path / "v1.toml", aeo_pack())
    new = write(tmp_path / "v2.toml", aeo_pack("1.1.0", b='"DE", "FR", "IT"', advanced_only=True))
    result = cxg("rules", "diff", old, signed(new), "--date", "2026-06-01")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "aeo-test@1.0.0 -> aeo-test@1.1.0 as of 2026-06-01"
    assert sorted(rows(result)) == sorted(
        [
            f"Advanced Co\tCN_USCC {USCC}\tCN1111111111 importing IT\t"
            "NOT_RECOGNIZED (no-arrangement) -> RECOGNIZED (authorised)",
            f"General Co\tCN_USCC {USCC_2}\tCN2222222222 importing DE\t"
            "RECOGNIZED (authorised) -> NOT_RECOGNIZED (not-advanced)",
            f"General Co\tCN_USCC {USCC_2}\tCN2222222222 importing FR\t"
            "RECOGNIZED (authorised) -> NOT_RECOGNIZED (not-advanced)",
            f"General Co\tCN_USCC {USCC_2}\tCN2222222222 importing IT\t"
            "NOT_RECOGNIZED (no-arrangement) -> NOT_RECOGNIZED (not-advanced)",
            f"Suspended Co\tLEI {LEI}\tCN3333333333 importing IT\t"
            "NOT_RECOGNIZED (no-arrangement) -> NOT_RECOGNIZED (suspended)",
        ]
    )
    assert result.output.splitlines()[-1] == "5 decisions change"
    same = cxg("rules", "diff", old, old)
    assert same.exit_code == 0 and rows(same) == [] and "0 decisions change" in same.output


def test_diff_lists_the_grades_that_move_and_refuses_mixed_types(
    tmp_path: Path, published: None, cli: Database
) -> None:
    old = write(tmp_path / "g1.toml", grade_pack())
    new = write(tmp_path / "g2.toml", grade_pack("1.0.1", b_ordinal=5))
    result = cxg("rules", "diff", old, new)
    assert result.exit_code == 0, result.output
    assert rows(result) == [
        f"General Co\tCN_USCC {USCC_2}\tCN_TAX:B\t"
        "RECOGNIZED (grade:CN_TAX:B, MEDIUM 6) -> RECOGNIZED (grade:CN_TAX:B, MEDIUM 5)"
    ]
    assert cxg("rules", "list").output == "no active rule packs\n"  # a dry run
    mixed = cxg("rules", "diff", old, write(tmp_path / "a.toml", aeo_pack()))
    assert mixed.exit_code == 1 and "/type:" in mixed.output
    forged = cxg("rules", "diff", old, tampered(signed(new)))
    assert forged.exit_code == 1 and "signature does not match" in forged.output
