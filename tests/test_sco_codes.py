"""SCO codes (上合码): issue, verify offline, and refuse every kind of bad code with its own
result. An independent COSE implementation (pycose) and bare cbor2 check what we issue."""

from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import base45  # type: ignore[import-untyped]
import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from pycose.keys.ec2 import EC2Key
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message

from gateway.errors import InvalidArgument, Unauthenticated
from gateway.sco import (
    CodeStatus,
    Freshness,
    Names,
    Result,
    ScoClaims,
    StatusList,
    TrustedKey,
    TrustList,
    cose_kid,
    issue,
    qr_png,
    qr_svg,
    verify,
)
from gateway.sco._base45 import b45decode
from gateway.sco._jws import sign_document
from gateway.sco._token import PREFIX, encode_claims
from gateway.signing import SigningKey
from tests.support import joserfc_registry

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SOON = NOW + timedelta(hours=1)
LIST_URI = "https://cxg.qingdao.dev/v1/sco/statusList"  # the status list's URI codes name
IDS = (("CN_USCC", "91370200MA3C5QH2X4"), ("LEI", "300300C5RZ2QH1KX1M86"), ("AEO", "CN3702960123"))
TYPICAL_NAMES = Names(
    zh="青岛海通国际贸易有限公司",
    en="Qingdao Haitong International Trade Co., Ltd.",
    ru="Циндао Хайтун Интернэшнл Трейд Ко., Лтд.",
)


def claims(**changes: Any) -> ScoClaims:
    fields: dict[str, Any] = {
        "subject_ids": IDS,
        "names": TYPICAL_NAMES,
        "country": "CN",
        "issuer": "CN",
        "status_index": 5,
        "valid_for": timedelta(days=365),
        "grade_bucket": "A",
        "aeo_type": "CN_ADVANCED",
        "status_uri": LIST_URI,
        "now": NOW,
    }
    return ScoClaims.new(**{**fields, **changes})


def statuses(size: int, issuer: str = "CN", subject: str = LIST_URI) -> StatusList:
    """An empty status list of ``size`` codes, at the URI the test codes name."""
    return StatusList(size, issuer=issuer, subject=subject)


def trust(*keys: TrustedKey, next_update: datetime = NOW + timedelta(days=1)) -> TrustList:
    return TrustList(version=1, issued_at=NOW, next_update=next_update, keys=keys)


def entry(key: SigningKey, issuer: str = "CN", **changes: Any) -> TrustedKey:
    return TrustedKey.from_signing_key(key, issuer=issuer, country="CN", **changes)


def to_text(cose: bytes) -> str:
    """A code's text around any COSE bytes, built with the reference Base45 encoder."""
    encoded: bytes = base45.b45encode(zlib.compress(cose))
    return PREFIX + encoded.decode()


def cose_of(text: str) -> bytes:
    """A code's COSE bytes, unwrapped with the reference Base45 decoder."""
    decoded: bytes = base45.b45decode(text[len(PREFIX) :])
    return zlib.decompress(decoded)


def sign_raw(payload: bytes, key: SigningKey, kid: bytes) -> bytes:
    """A COSE_Sign1 with any kid: what a forger with their own key would make."""
    protected = cbor2.dumps({1: -8, 4: kid})
    assert isinstance(key.private_key, ed25519.Ed25519PrivateKey)
    signature = key.private_key.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))


def pycose_decode(cose: bytes) -> Sign1Message:
    """``Sign1Message.decode`` expects cbor2 5's list inside the tag; cbor2 6 decodes a tag's
    content as a tuple (and maps as frozendict), so unwrap the tag here and let pycose parse
    the rest: headers, payload, signature, and its own Sig_structure when verifying."""
    tagged = cbor2.loads(cose)
    assert tagged.tag == 18
    protected, unprotected, payload, signature = tagged.value
    message: Sign1Message = Sign1Message.from_cose_obj(
        [protected, dict(unprotected), payload, signature], True
    )
    return message


@pytest.fixture(scope="module")
def issuer() -> SigningKey:
    return SigningKey.generate("EdDSA")


@pytest.fixture(scope="module")
def gateway_key() -> SigningKey:
    return SigningKey.generate("EdDSA")


@pytest.fixture(scope="module")
def anchors(gateway_key: SigningKey) -> dict[str, Any]:
    return {"keys": [gateway_key.public_jwk()]}


# --- Base45 (RFC 9285 section 4.3 and 4.4 examples) ----------------------------------------------

RFC_9285 = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("raw", "encoded"), RFC_9285)
def test_base45_rfc_9285_examples(raw: bytes, encoded: str) -> None:
    assert base45.b45encode(raw).decode() == encoded
    assert b45decode(encoded) == raw == base45.b45decode(encoded)


@pytest.mark.parametrize("bad", ["GGW", "A", "ABCD", "ab", "BB8\n", "ÄÖ", ":::"])
def test_base45_decoder_refuses_what_rfc_9285_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        b45decode(bad)


@given(st.binary(max_size=600))
def test_base45_fast_decoder_agrees_with_the_reference_package(data: bytes) -> None:
    assert b45decode(base45.b45encode(data).decode()) == data


# --- issue and verify ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_round_trip_for_both_algorithms(alg: str) -> None:
    key = SigningKey.generate(alg)
    issued = claims()
    text = issue(issued, key)
    checked = verify(text, trust(entry(key)), now=SOON)
    assert checked.result is Result.VALID and checked.valid
    assert checked.claims == issued
    assert checked.kid == cose_kid(key.private_key.public_key())
    assert checked.reasons == ()


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_pycose_verifies_an_issued_code_and_cbor2_alone_reads_its_claims(alg: str) -> None:
    key = SigningKey.generate(alg)
    issued = claims()
    message = pycose_decode(cose_of(issue(issued, key)))
    public = key.private_key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        message.key = OKPKey(crv="Ed25519", x=raw)
    else:
        numbers = public.public_numbers()
        message.key = EC2Key(
            crv="P_256", x=numbers.x.to_bytes(32, "big"), y=numbers.y.to_bytes(32, "big")
        )
    assert message.verify_signature()

    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    protected = cbor2.loads(cbor2.loads(cose_of(issue(issued, key))).value[0])
    assert protected == {1: -8 if alg == "EdDSA" else -7, 4: hashlib.sha256(spki).digest()[:8]}

    assert message.payload is not None
    cwt = cbor2.loads(message.payload)
    iat = int(NOW.timestamp())
    assert (cwt[1], cwt[6], cwt[4]) == ("CN", iat, iat + 365 * 86400)
    assert cwt[7] == bytes.fromhex(issued.code_id)
    # draft-ietf-oauth-status-list, "Referenced Token in COSE": claim 65535, text keys.
    assert cwt[65535] == {"status_list": {"idx": 5, "uri": LIST_URI}}
    assert cwt[-65537] == {
        1: [[1, IDS[0][1]], [2, IDS[1][1]], [3, IDS[2][1]]],
        2: [TYPICAL_NAMES.zh, TYPICAL_NAMES.en, TYPICAL_NAMES.ru],
        3: "CN",
        4: "A",
        5: True,
        6: "CN_ADVANCED",
    }
    assert cbor2.dumps(cwt, canonical=True) == message.payload  # deterministic encoding


def test_unregistered_schemes_travel_as_text(issuer: SigningKey) -> None:
    issued = claims(subject_ids=[("KZ_BIN", "123456789012")], aeo_type="", grade_bucket="")
    assert cbor2.loads(encode_claims(issued))[-65537][1] == [["KZ_BIN", "123456789012"]]
    assert verify(issue(issued, issuer), trust(entry(issuer)), now=SOON).claims == issued


def test_typical_code_length_and_qr_version(issuer: SigningKey) -> None:
    """The typical code with names in three languages is ~655 characters, QR version 16-M or,
    by its random code id and signature, 17 (16-M holds 658 alphanumeric characters):
    the signature, kid and code id alone are 80 incompressible bytes (120 characters), the
    three names ~150 bytes of UTF-8 that zlib barely shrinks, and the status claim the draft
    requires (its keys and the list's URI) ~60 bytes (~90 characters, one QR version)."""
    text = issue(claims(), issuer)
    assert len(text) < 670
    png = qr_png(text)
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.error == "M" and png.version in (16, 17)
    svg = qr_svg(text)
    assert b"<svg" in svg.data and svg.version == png.version


def test_a_code_with_the_local_name_only_is_under_500_characters(issuer: SigningKey) -> None:
    # Three identifiers and the Chinese name: ~482 characters, right at what QR version 13-M
    # holds (483), so version 13 or 14 by the random code id and signature. All three languages
    # do not (the test above): an issuer chooses the languages for a small QR code.
    text = issue(claims(names=Names(zh="青岛海通国际贸易有限公司")), issuer)
    assert len(text) < 500
    assert qr_png(text).version <= 14


def test_a_code_without_names_fits_qr_version_13(issuer: SigningKey) -> None:
    text = issue(claims(names=Names()), issuer)
    assert len(text) < 440
    assert qr_png(text).version <= 13


def ideographs(count: int) -> str:
    """``count`` distinct CJK ideographs: a name zlib cannot shrink."""
    return "".join(chr(0x4E00 + i * 61 % 20000) for i in range(count))


def test_a_code_longer_than_a_verifier_reads_is_not_issued(issuer: SigningKey) -> None:
    # It could only ever be OVERSIZE; the issuer chooses fewer or shorter names instead.
    long_names = Names(zh=ideographs(300), en=ideographs(40))
    with pytest.raises(InvalidArgument) as refused:
        issue(claims(names=long_names), issuer)
    assert refused.value.field == "names" and "over the 1000" in refused.value.message
    assert len(issue(claims(names=Names(zh=long_names.en)), issuer)) <= 1000


def test_codes_of_the_older_layout_still_verify(
    issuer: SigningKey, gateway_key: SigningKey, anchors: dict[str, Any]
) -> None:
    """Codes issued before the status claim carry their index as SCO key 7 and name no list
    URI: they decode, and their issuer's list decides their status whatever its ``sub``."""
    older = claims(status_uri="", status_index=9)
    cwt = cbor2.loads(encode_claims(older))
    assert 65535 not in cwt and cwt[-65537][7] == 9
    text = issue(older, issuer)
    assert len(text) < 600  # ~90 characters less than the typical code of today
    listed = statuses(100, subject="https://elsewhere.example/list")
    listed.set(9, CodeStatus.SUSPENDED)
    checked = verify(text, trust(entry(issuer)), listed, now=SOON)
    assert checked.result is Result.SUSPENDED and checked.claims == older


@pytest.mark.parametrize(
    "status",
    [
        {"status_list": {"idx": 5}},
        {"status_list": {"uri": LIST_URI}},
        {"status_list": {"idx": 5, "uri": LIST_URI, "extra": 1}},
        {"status_list": {"idx": 5, "uri": ""}},
        {"status_list": {"idx": 5, "uri": "statusList"}},
        {"status_list": {"idx": -1, "uri": LIST_URI}},
        {"status_list": {"idx": "5", "uri": LIST_URI}},
        {"status_list": [5, LIST_URI]},
        {"status_list": {"idx": 5, "uri": LIST_URI}, "other": {}},
        [5, LIST_URI],
    ],
)
def test_a_malformed_status_claim_is_malformed(issuer: SigningKey, status: Any) -> None:
    cwt = cbor2.loads(encode_claims(claims()))
    cwt[65535] = status
    text = to_text(sign_raw(cbor2.dumps(cwt), issuer, cose_kid(issuer.private_key.public_key())))
    checked = verify(text, trust(entry(issuer)), now=SOON)
    assert checked.result is Result.MALFORMED, checked
    # Both layouts at once (index twice) is neither.
    both = cbor2.loads(encode_claims(claims()))
    both[-65537][7] = 5
    text = to_text(sign_raw(cbor2.dumps(both), issuer, cose_kid(issuer.private_key.public_key())))
    assert verify(text, trust(entry(issuer)), now=SOON).result is Result.MALFORMED


def test_key_id_collision_tries_every_key_with_that_kid(issuer: SigningKey) -> None:
    kid = cose_kid(issuer.private_key.public_key())
    decoy = TrustedKey(
        kid=kid,
        issuer="CN",
        country="CN",
        alg="EdDSA",
        jwk=SigningKey.generate().public_jwk(),
    )
    text = issue(claims(), issuer)
    assert verify(text, trust(decoy, entry(issuer)), now=SOON).result is Result.VALID
    assert verify(text, trust(entry(issuer), decoy), now=SOON).result is Result.VALID
    assert verify(text, trust(decoy), now=SOON).result is Result.FORGED


# --- every bad code has its own result -----------------------------------------------------------


def test_flipped_signature_byte_is_forged(issuer: SigningKey) -> None:
    cose = bytearray(cose_of(issue(claims(), issuer)))
    cose[-1] ^= 0x01
    checked = verify(to_text(bytes(cose)), trust(entry(issuer)), now=SOON)
    assert checked.result is Result.FORGED and checked.claims is None


def test_resigned_by_an_untrusted_key_with_the_trusted_kid_is_forged(issuer: SigningKey) -> None:
    kid = cose_kid(issuer.private_key.public_key())
    forged = sign_raw(encode_claims(claims(grade_bucket="AAA")), SigningKey.generate(), kid)
    checked = verify(to_text(forged), trust(entry(issuer)), now=SOON)
    assert checked.result is Result.FORGED and checked.claims is None


def test_signature_is_checked_before_any_claim_is_read(issuer: SigningKey) -> None:
    kid = cose_kid(issuer.private_key.public_key())
    garbage = b"\xa1\x01\xff"  # not a claims map, not even valid CBOR
    assert (
        verify(
            to_text(sign_raw(garbage, SigningKey.generate(), kid)), trust(entry(issuer)), now=SOON
        ).result
        is Result.FORGED
    )
    signed = verify(to_text(sign_raw(garbage, issuer, kid)), trust(entry(issuer)), now=SOON)
    assert signed.result is Result.MALFORMED and signed.claims is None


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-10], id="truncated text"),
        pytest.param(lambda t: to_text(cose_of(t)[:-20]), id="truncated COSE"),
        pytest.param(lambda t: "HC1:" + t[4:], id="wrong prefix"),
        pytest.param(lambda t: t.lower(), id="not Base45"),
        pytest.param(lambda t: PREFIX + base45.b45encode(b"no zlib here").decode(), id="not zlib"),
        pytest.param(lambda t: to_text(b"\xff\x00\x13garbage"), id="garbage CBOR"),
        pytest.param(lambda t: to_text(cbor2.dumps([1, 2, 3, 4])), id="untagged array"),
        pytest.param(lambda t: to_text(cose_of(t) + b"\x00"), id="trailing byte"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: None, id="not text"),
    ],
)
def test_malformed_input(issuer: SigningKey, mangle: Any) -> None:
    checked = verify(mangle(issue(claims(), issuer)), trust(entry(issuer)), now=SOON)
    assert checked.result is Result.MALFORMED, checked
    assert checked.reasons and checked.claims is None


def test_oversize_text_and_zip_bomb(issuer: SigningKey) -> None:
    assert verify("SC1:" + "0" * 1000, trust(entry(issuer)), now=SOON).result is Result.OVERSIZE
    bomb = to_text(b"\x00" * 200_000)  # 200 kB of zeros deflate to ~200 bytes
    assert len(bomb) < 1000  # passes the text bound: only the inflate bound stops it
    assert verify(bomb, trust(entry(issuer)), now=SOON).result is Result.OVERSIZE


def test_expired_and_not_yet_valid(issuer: SigningKey) -> None:
    text = issue(claims(valid_for=timedelta(days=30)), issuer)
    trusted = trust(entry(issuer), next_update=NOW + timedelta(days=400))
    assert verify(text, trusted, now=NOW - timedelta(seconds=1)).result is Result.NOT_YET_VALID
    assert verify(text, trusted, now=NOW).result is Result.VALID
    assert verify(text, trusted, now=NOW + timedelta(days=30)).result is Result.EXPIRED
    assert verify(text, trusted, now=NOW + timedelta(days=30)).claims is not None


def test_unknown_issuer(issuer: SigningKey) -> None:
    text = issue(claims(), issuer)
    stranger = entry(SigningKey.generate())
    assert verify(text, trust(stranger), now=SOON).result is Result.UNKNOWN_ISSUER
    # A trusted key speaking for another issuer than the one it is listed for.
    assert verify(text, trust(entry(issuer, issuer="KZ")), now=SOON).result is Result.UNKNOWN_ISSUER
    # A key listed only from after the code was issued.
    late = entry(issuer, valid_from=NOW + timedelta(minutes=1))
    assert verify(text, trust(late), now=SOON).result is Result.UNKNOWN_ISSUER


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (CodeStatus.VALID, Result.VALID),
        (CodeStatus.REVOKED, Result.REVOKED),
        (CodeStatus.SUSPENDED, Result.SUSPENDED),
        (CodeStatus.UNDER_REVIEW, Result.UNDER_REVIEW),
    ],
)
def test_status_list_decides_after_the_signature(
    issuer: SigningKey,
    gateway_key: SigningKey,
    anchors: dict[str, Any],
    status: CodeStatus,
    result: Result,
) -> None:
    listed = statuses(100)
    listed.set(5, status)
    listed.set(4, CodeStatus.REVOKED)  # a neighbour's bits must not leak into slot 5
    published = StatusList.verify(listed.sign(gateway_key, now=NOW), anchors, SOON)
    assert (
        verify(issue(claims(), issuer), trust(entry(issuer)), published, now=SOON).result is result
    )


def test_status_that_cannot_be_established_is_never_valid(
    issuer: SigningKey, gateway_key: SigningKey, anchors: dict[str, Any]
) -> None:
    text = issue(claims(status_index=500), issuer)
    trusted = trust(entry(issuer), next_update=NOW + timedelta(days=10))
    small = statuses(100)
    assert verify(text, trusted, small, now=SOON).result is Result.UNDER_REVIEW
    other = statuses(1000, issuer="KZ")
    assert verify(text, trusted, other, now=SOON).result is Result.UNDER_REVIEW
    # The list at another URI than the one the code names (draft: sub must equal uri).
    elsewhere = statuses(1000, subject="https://cxg.qingdao.dev/v1/sco/otherList")
    refused = verify(text, trusted, elsewhere, now=SOON)
    assert refused.result is Result.UNDER_REVIEW and LIST_URI in refused.reasons[0]
    published = StatusList.verify(statuses(1000).sign(gateway_key, now=NOW), anchors, SOON)
    assert verify(text, trusted, published, now=SOON).result is Result.VALID
    checked = verify(text, trusted, published, now=NOW + timedelta(days=2))
    assert checked.result is Result.UNDER_REVIEW
    assert "expired" in checked.reasons[0]


def test_status_lists_by_issuer_apply_to_their_issuer_only(
    issuer: SigningKey, gateway_key: SigningKey, anchors: dict[str, Any]
) -> None:
    text = issue(claims(status_index=5), issuer)
    trusted = trust(entry(issuer))
    revoked = statuses(100)
    revoked.set(5, CodeStatus.REVOKED)
    published = StatusList.verify(revoked.sign(gateway_key, now=NOW), anchors, SOON)
    listed = verify(text, trusted, now=SOON, status_lists={"CN": published})
    assert listed.result is Result.REVOKED
    # A verifier with no list for this issuer judges by signature and dates.
    unlisted = verify(text, trusted, now=SOON, status_lists={"KZ": published})
    assert unlisted.result is Result.VALID


def test_stale_trust_list_warns_then_refuses(issuer: SigningKey) -> None:
    text = issue(claims(), issuer)
    trusted = trust(entry(issuer), next_update=NOW + timedelta(days=1))
    stale = verify(text, trusted, now=NOW + timedelta(days=2))
    assert stale.result is Result.VALID
    assert "past its update time" in stale.reasons[0]
    refused = verify(text, trusted, now=NOW + timedelta(days=9))
    assert refused.result is Result.STALE_TRUST_LIST and refused.claims is None


@settings(max_examples=300)
@given(st.text(max_size=1200) | st.binary(max_size=900).map(to_text))
def test_verify_never_raises_on_hostile_input(text: str) -> None:
    key = SigningKey.generate()
    assert verify(text, trust(entry(key)), now=SOON).result in {
        Result.MALFORMED,
        Result.OVERSIZE,
        Result.UNKNOWN_ISSUER,
    }


# --- claims: validation and the round-trip property ----------------------------------------------

_TYPICAL_IDS = st.tuples(
    st.sampled_from(["CN_USCC", "LEI", "AEO", "KZ_BIN", "RU_OGRN"]),
    st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=10, max_size=20),
)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(_TYPICAL_IDS, min_size=1, max_size=3),
    zh=st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=12),
    en=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    ru=st.text(
        st.characters(min_codepoint=0x0410, max_codepoint=0x044F) | st.just(" "), max_size=40
    ),
    grade=st.sampled_from(["", "A", "AA+", "B3"]),
    aeo_type=st.sampled_from(["", "AEOC", "AEOF", "CN_ADVANCED"]),
    index=st.integers(0, 2**32),
    days=st.integers(1, 3650),
)
def test_any_claims_round_trip_within_a_bounded_length(
    ids: list[tuple[str, str]],
    zh: str,
    en: str,
    ru: str,
    grade: str,
    aeo_type: str,
    index: int,
    days: int,
) -> None:
    key = SigningKey.generate()
    issued = claims(
        subject_ids=ids,
        names=Names(zh, en, ru),
        grade_bucket=grade,
        aeo_type=aeo_type,
        status_index=index,
        valid_for=timedelta(days=days),
    )
    text = issue(issued, key)
    assert verify(text, trust(entry(key)), now=SOON).claims == issued
    # Worst case for the typical sizes: incompressible names, 20-character ids.
    assert len(text) < 810
    assert qr_png(text).version <= 18


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"country": "cn"}, "country"),
        ({"subject_ids": [("CN_USCC", "")]}, "subject_ids/0"),
        ({"subject_ids": []}, "subject_ids"),
        ({"status_index": -1}, "status_index"),
        ({"issuer": ""}, "issuer"),
        ({"valid_for": timedelta(0)}, "expires_at"),
        ({"now": datetime(2026, 6, 1)}, "issued_at"),
    ],
)
def test_claims_are_validated_on_construction(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        claims(**changes)
    assert caught.value.field == field


# --- the signed trust list -----------------------------------------------------------------------


def test_trust_list_round_trip_and_staleness(
    issuer: SigningKey, gateway_key: SigningKey, anchors: dict[str, Any]
) -> None:
    es_key = SigningKey.generate("ES256")
    built = TrustList(
        version=7,
        issued_at=NOW,
        next_update=NOW + timedelta(days=1),
        keys=(entry(issuer, valid_to=NOW + timedelta(days=90)), entry(es_key, issuer="KZ")),
    )
    jws = built.sign(gateway_key)
    fresh = TrustList.verify(jws, anchors, SOON)
    assert fresh == built and fresh.freshness(SOON) is Freshness.FRESH
    assert fresh.keys_for(cose_kid(es_key.private_key.public_key()))[0].issuer == "KZ"

    stale = TrustList.verify(jws, anchors, NOW + timedelta(days=3))
    assert stale.freshness(NOW + timedelta(days=3)) is Freshness.STALE
    with pytest.raises(Unauthenticated) as refused:
        TrustList.verify(jws, anchors, NOW + timedelta(days=8, seconds=1))
    assert refused.value.details["rule"] == "stale"
    with pytest.raises(Unauthenticated) as rolled_back:
        TrustList.verify(jws, anchors, SOON, min_version=8)
    assert rolled_back.value.details["rule"] == "rollback"


def test_trust_list_signature_must_verify(
    issuer: SigningKey, gateway_key: SigningKey, anchors: dict[str, Any]
) -> None:
    jws = trust(entry(issuer)).sign(gateway_key)
    header, payload, signature = jws.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises(Unauthenticated):
        TrustList.verify(tampered, anchors, SOON)
    with pytest.raises(Unauthenticated):
        TrustList.verify(jws, {"keys": [SigningKey.generate().public_jwk()]}, SOON)
    impostor = SigningKey.generate()
    same_kid = {"keys": [{**impostor.public_jwk(), "kid": gateway_key.kid}]}
    with pytest.raises(Unauthenticated):
        TrustList.verify(jws, same_kid, SOON)


# --- the signed status list ----------------------------------------------------------------------


def test_status_list_reads_the_token_status_list_draft_example() -> None:
    # draft-ietf-oauth-status-list, 2-bit example: 12 statuses, lst "eNo76fITAAPfAgc".
    statuses = StatusList.from_lst("eNo76fITAAPfAgc", issuer="CN")
    assert [int(statuses.get(i)) for i in range(12)] == [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    rebuilt = StatusList(12, issuer="CN")
    for i in range(12):
        rebuilt.set(i, statuses.get(i))
    assert rebuilt.lst() == "eNo76fITAAPfAgc"


def test_status_list_sign_verify_and_expiry(
    gateway_key: SigningKey, anchors: dict[str, Any]
) -> None:
    listed = statuses(10_000)
    listed.set(9_999, CodeStatus.SUSPENDED)
    jws = listed.sign(gateway_key, now=NOW, valid_for=timedelta(hours=6), ttl=timedelta(minutes=30))
    published = StatusList.verify(jws, anchors, SOON)
    assert published.get(9_999) is CodeStatus.SUSPENDED and published.get(0) is CodeStatus.VALID
    assert (published.issued_at, published.ttl) == (NOW, timedelta(minutes=30))
    with pytest.raises(Unauthenticated) as expired:
        StatusList.verify(jws, anchors, NOW + timedelta(hours=6))
    assert expired.value.details["rule"] == "expired"
    header, payload, signature = jws.split(".")
    with pytest.raises(Unauthenticated):
        flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
        StatusList.verify(f"{header}.{payload}.{flipped}", anchors, SOON)


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")
def test_the_status_list_token_is_what_the_draft_requires(
    gateway_key: SigningKey, anchors: dict[str, Any]
) -> None:
    """draft-ietf-oauth-status-list, "Status List Token in JWT Format", read with joserfc: typ
    statuslist+jwt; sub (the URI the codes name), iat, exp, ttl (positive), status_list {bits,
    lst: base64url without padding of zlib (DEFLATE in ZLIB format)}."""
    listed = statuses(12)
    for i, value in enumerate([1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]):
        listed.set(i, CodeStatus(value))
    token = listed.sign(
        gateway_key, now=NOW, valid_for=timedelta(hours=6), ttl=timedelta(minutes=30)
    )
    decoded = jose_jwt.decode(
        token, KeySet.import_key_set(anchors), registry=joserfc_registry(["EdDSA"])
    )
    assert decoded.header["typ"] == "statuslist+jwt" and decoded.header["kid"] == gateway_key.kid
    required = JWTClaimsRegistry(
        now=int(SOON.timestamp()),
        sub={"essential": True, "value": LIST_URI},
        iat={"essential": True},
        exp={"essential": True},
    )
    required.validate(decoded.claims)
    claims_set = decoded.claims
    assert claims_set["iat"] == int(NOW.timestamp())
    assert claims_set["exp"] == int((NOW + timedelta(hours=6)).timestamp())
    assert claims_set["ttl"] == 1800 and type(claims_set["ttl"]) is int
    assert set(claims_set["status_list"]) == {"bits", "lst"}
    assert claims_set["status_list"]["bits"] == 2
    lst = claims_set["status_list"]["lst"]
    assert set(lst) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # The draft's own 2-bit example bytes (0xC9 0x44 0xF9), inflated with zlib alone.
    assert zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))) == bytes(
        [0xC9, 0x44, 0xF9]
    )
    with pytest.raises(InvalidArgument) as unnamed:
        statuses(12, subject="").sign(gateway_key, now=NOW)
    assert unnamed.value.field == "subject"


def _status_token(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "sub": LIST_URI,
        "iss": "CN",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(days=1)).timestamp()),
        "ttl": 300,
        "status_list": {"bits": 2, "lst": statuses(4).lst()},
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


@pytest.mark.parametrize(
    ("document", "typ", "field"),
    [
        (_status_token(sub=None), "statuslist+jwt", "status_list/sub"),
        (_status_token(sub=""), "statuslist+jwt", "status_list/sub"),
        (_status_token(sub="statusList"), "statuslist+jwt", "status_list/sub"),
        (_status_token(sub=7), "statuslist+jwt", "status_list/sub"),
        (_status_token(iat=None), "statuslist+jwt", "status_list/iat"),
        (_status_token(exp=None), "statuslist+jwt", "status_list/exp"),
        (_status_token(ttl=0), "statuslist+jwt", "status_list/ttl"),
        (_status_token(ttl=None), "statuslist+jwt", "status_list/ttl"),
        (_status_token(status_list=None), "statuslist+jwt", "status_list/status_list"),
        (_status_token(status_list={"bits": 1, "lst": "eNrbuRgAAhcBXQ"}), "statuslist+jwt",
         "status_list/status_list"),
        (_status_token(), "JWT", "status_list.header.typ"),
    ],
    ids=["no-sub", "empty-sub", "relative-sub", "number-sub", "no-iat", "no-exp", "ttl-0",
         "no-ttl", "no-status_list", "bits-1", "typ-JWT"],
)  # fmt: skip
def test_a_status_list_token_without_what_the_draft_requires_is_refused(
    gateway_key: SigningKey, anchors: dict[str, Any], document: dict[str, Any], typ: str, field: str
) -> None:
    jws = sign_document(gateway_key, typ, document)
    with pytest.raises(InvalidArgument) as refused:
        StatusList.verify(jws, anchors, SOON)
    assert refused.value.field == field
    assert StatusList.verify(sign_document(gateway_key, "statuslist+jwt", _status_token()),
                             anchors, SOON).subject == LIST_URI  # fmt: skip


def test_cose_kid_is_sha256_of_the_spki_prefix() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert cose_kid(public) == hashlib.sha256(spki).digest()[:8]
