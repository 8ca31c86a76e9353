"""``cxg sco`` as an operator runs it: issue a code, change its status (every transition, and
the ones refused: revocation is final), export the signed trust and status lists, and verify a
code offline with them (no database, no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.sco import TrustList
from gateway.signing import SigningKey
from gateway.storage.audit import AuditStore
from gateway.transport.serve import Gateway
from tests.support import TestPartner, profile, publish
from tests.test_sco_page import flip_signature

runner = CliRunner()


@pytest.fixture
def cli(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """The CLI on the gateway's database and keys, with a company to issue codes for."""
    monkeypatch.setenv("CXG_DATABASE_URL", gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    return gateway


@pytest.fixture
def company(cli: Gateway, partners: dict[str, TestPartner]) -> str:
    publish(cli.exchange, partners["cn-customs"], profile())
    return "AEO:CN3702960123"


def cxg(*args: str, status: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == status, result.output
    return result.output


def issued(subject: str, *options: str) -> tuple[str, str, str]:
    """The code, its id and its scan URL, from ``cxg sco issue``."""
    lines = cxg("sco", "issue", subject, *options).splitlines()
    code, summary, url = lines[0], lines[1], lines[2]
    assert code.startswith("SC1:")
    assert summary.startswith("scoCodes/") and f": {len(code)} characters, QR version" in summary
    assert url.startswith("scan URL: HTTP://") and "/S/SC1-" in url
    return code, summary.split(":")[0].removeprefix("scoCodes/"), url.removeprefix("scan URL: ")


def lists(tmp_path: Path) -> tuple[str, str]:
    trust, status = tmp_path / "trust.jws", tmp_path / "status.jws"
    assert f"wrote {trust}" in cxg("sco", "trust-list", "-o", str(trust))
    assert f"wrote {status}" in cxg("sco", "status-list", "-o", str(status))
    return str(trust), str(status)


def test_issue_then_verify_offline_then_revoke(company: str, tmp_path: Path) -> None:
    code, code_id, url = issued(company)
    trust, status = lists(tmp_path)
    valid = cxg("sco", "verify", code, "--trust-list", trust, "--status-list", status)
    assert valid.splitlines()[0] == "VALID"
    assert f"code id: {code_id}" in valid and "company: 青岛海通国际贸易有限公司 / Qingdao" in valid
    assert "AEO: yes (CN_ADVANCED)" in valid and "issuer: cxg.qingdao.dev" in valid
    # The scan URL a QR code holds verifies as its code does.
    by_url = cxg("sco", "verify", url, "--trust-list", trust, "--status-list", status)
    assert by_url.splitlines()[0] == "VALID"

    assert "SUSPENDED" in cxg("sco", "suspend", code_id)
    # The old status list still vouches for the code: offline, a verifier knows no better.
    stale = cxg("sco", "verify", code, "--trust-list", trust, "--status-list", status)
    assert stale.splitlines()[0] == "VALID"
    _, status = lists(tmp_path)
    out = cxg("sco", "verify", code, "--trust-list", trust, "--status-list", status, status=1)
    assert out.startswith("SUSPENDED") and "marks it SUSPENDED" in out
    assert "VALID" in cxg("sco", "reinstate", code_id)
    _, status = lists(tmp_path)
    out = cxg("sco", "verify", code, "--trust-list", trust, "--status-list", status)
    assert out.startswith("VALID")

    assert f"scoCodes/{code_id}: REVOKED" in cxg("sco", "revoke", code_id)
    _, status = lists(tmp_path)
    revoked = cxg("sco", "verify", code, "--trust-list", trust, "--status-list", status, status=1)
    assert revoked.splitlines()[0] == "REVOKED" and "marks it REVOKED" in revoked
    # "Revoke a code for good": nothing brings it back.
    refused = cxg("sco", "reinstate", code_id, status=1)
    assert "state: " in refused and "revocation is final" in refused
    _, status = lists(tmp_path)
    out = cxg("sco", "verify", code, "--trust-list", trust, "--status-list", status, status=1)
    assert out.startswith("REVOKED")


# The command that asks for each state, and every (from, to) pair: revocation is final, a
# "change" to the state a code is in is no change, every other change is allowed.
VERBS = {"VALID": "reinstate", "SUSPENDED": "suspend", "UNDER_REVIEW": "review",
         "REVOKED": "revoke"}  # fmt: skip
REFUSED = {(start, end) for start in VERBS for end in VERBS if start == end or start == "REVOKED"}


def test_every_state_change_at_the_command_line(cli: Gateway, company: str, tmp_path: Path) -> None:
    """Issue 14, item 9, at the command line: `cxg sco reinstate` brought a revoked code back.
    From each state to each, an allowed change is printed, recorded once in the audit log and
    in the next status list (verified offline); a refused one exits 1 naming the field and the
    reason, and stores and records nothing."""
    trust, _ = lists(tmp_path)

    def state_offline(code: str) -> str:
        _, status = lists(tmp_path)
        out = runner.invoke(app, ["sco", "verify", code, "--trust-list", trust,
                                  "--status-list", status]).output  # fmt: skip
        return out.splitlines()[0]

    def leaves() -> int:
        store = AuditStore(cli.db)
        return sum(
            json.loads(leaf.data).get("change") == "sco.status"
            for leaf in store.leaves(0, store.size())
        )

    for start in VERBS:
        for end, verb in VERBS.items():
            code, code_id, _ = issued(company)
            if start != "VALID":
                cxg("sco", VERBS[start], code_id)
            before = leaves()
            if (start, end) in REFUSED:
                out = cxg("sco", verb, code_id, status=1)
                why = "revocation is final" if start == "REVOKED" else f"already {end.lower()}"
                assert out.startswith(f"cxg: state: scoCodes/{code_id}") and why in out, out
                assert leaves() == before
                assert state_offline(code) == start, (start, end)
            else:
                assert cxg("sco", verb, code_id).strip() == f"scoCodes/{code_id}: {end}"
                assert leaves() == before + 1
                assert state_offline(code) == end, (start, end)


def test_a_forged_code_fails(company: str, tmp_path: Path) -> None:
    code, _, _ = issued(company)
    trust, status = lists(tmp_path)
    forged = cxg("sco", "verify", flip_signature(code), "--trust-list", trust, status=1)
    assert forged.splitlines()[0] == "FORGED" and "code id" not in forged
    garbled = cxg("sco", "verify", code[:-5], "--trust-list", trust, "--status-list", status,
                  status=1)  # fmt: skip
    assert garbled.splitlines()[0] == "MALFORMED"


def test_a_trust_list_signed_by_another_key_is_refused(company: str, tmp_path: Path) -> None:
    code, _, _ = issued(company)
    trust, _ = lists(tmp_path)
    other = SigningKey.generate()
    anchor = tmp_path / "other.jwks"
    anchor.write_text(json.dumps({"keys": [other.public_jwk()]}))
    refused = cxg("sco", "verify", code, "--trust-list", trust, "--anchor", str(anchor), status=1)
    assert f"trust list {trust} refused:" in refused
    assert "VALID" not in refused

    # A list that names the right keys but is signed by a stranger fails against our anchor.
    ours = json.loads(cxg("keys", "jwks"))
    genuine = TrustList.verify(Path(trust).read_text().strip(), ours, datetime.now(UTC))
    forged_list = tmp_path / "forged-trust.jws"
    forged_list.write_text(genuine.sign(other))
    refused = cxg("sco", "verify", code, "--trust-list", str(forged_list), status=1)
    assert f"trust list {forged_list} refused:" in refused

    unreadable = tmp_path / "garbage.jws"
    unreadable.write_text("not a jws")
    out = cxg("sco", "verify", code, "--trust-list", str(unreadable), status=1)
    assert f"trust list {unreadable}" in out
    out = cxg("sco", "verify", code, "--trust-list", str(tmp_path / "missing.jws"), status=2)
    assert "missing.jws" in out


def test_an_unwritable_image_is_refused_before_the_code_is_issued(
    cli: Gateway, company: str
) -> None:
    """Issuing stores the code: an image path that cannot be written is refused first."""
    store = AuditStore(cli.db)
    before = store.size()
    result = runner.invoke(app, ["sco", "issue", company, "--png", "/nonexistent/x.png"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "cxg: --png /nonexistent/x.png: no folder /nonexistent (hint: create it first)"
    ]
    assert store.size() == before  # no code issued, no leaf


def test_qr_images_and_fewer_languages(company: str, tmp_path: Path) -> None:
    png, svg = tmp_path / "code.png", tmp_path / "code.svg"
    code, _, _ = issued(company, "--png", str(png), "--svg", str(svg), "--days", "30")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg.read_bytes()
    short, _, _ = issued(company, "--languages", "en")
    assert len(short) < len(code)
    out = cxg("sco", "issue", company, "--languages", "fr", status=1)
    assert "languages" in out
    assert "not SCHEME:VALUE" in cxg("sco", "issue", "CN3702960123", status=2)


def test_the_lists_print_to_stdout(cli: Gateway) -> None:
    for which in ("trust-list", "status-list"):
        jws = cxg("sco", which).strip()
        assert jws.count(".") == 2
