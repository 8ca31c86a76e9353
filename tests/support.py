"""Test doubles and data: partner institutions with real keys, sample profiles, signing helpers."""

from __future__ import annotations

import base64
import copy
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gateway.audit.entries import Actor, acting_as
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.signing import SigningKey
from gateway.trust import Partner, parse_partner_file

if TYPE_CHECKING:
    from gateway.service import ProfileExchange
    from gateway.service.profiles import SignedVersion

# Whom the audit leaves of changes a test makes directly (not through the API or CLI) name.
TEST_ACTOR = Actor("test:pytest", "pytest")

USCC = "91370200MA3C5QH2X4"
USCC_2 = "91370211MA3D8KLN40"
LEI = "300300C5RZ2QH1KX1M86"
RU_INN = "7708123450"
KZ_BIN = "180440001235"


@dataclass(frozen=True)
class TestPartner:
    __test__ = False  # a test double, not a test class

    id: str
    country: str
    roles: tuple[str, ...]
    key: SigningKey
    status: str = "active"

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": f"Test partner {self.id}",
            "country": self.country,
            "roles": list(self.roles),
            "status": self.status,
            "jwks": {"keys": [self.key.public_jwk()]},
        }

    def as_partner(self) -> Partner:
        """The gateway's view of this partner, as a caller of the service layer."""
        return parse_partner_file(self.record())[0]

    def sign(self, profile: dict[str, Any] | bytes, **headers: Any) -> str:
        payload = (
            profile
            if isinstance(profile, bytes)
            else json.dumps(profile, ensure_ascii=False).encode()
        )
        return self.key.sign_jws(payload, {"typ": "cxg-publish+jws", **headers})


def make_partners() -> dict[str, TestPartner]:
    partners = [
        TestPartner("ru-bureau", "RU", ("credit_bureau",), SigningKey.generate("EdDSA")),
        TestPartner("kz-bank", "KZ", ("bank",), SigningKey.generate("ES256")),
        TestPartner("cn-customs", "CN", ("customs",), SigningKey.generate("EdDSA")),
        TestPartner("sme-portal", "CN", ("sme_portal",), SigningKey.generate("EdDSA")),
        TestPartner("cxg-operator", "CN", ("operator",), SigningKey.generate("EdDSA")),
        TestPartner(
            "suspended-bank", "BY", ("bank",), SigningKey.generate("EdDSA"), status="suspended"
        ),
    ]
    return {p.id: p for p in partners}


def write_partners(directory: Path, partners: dict[str, TestPartner]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for partner in partners.values():
        (directory / f"{partner.id}.json").write_text(json.dumps(partner.record()))


def profile(**overrides: Any) -> dict[str, Any]:
    """A valid CreditProfile in proto3 JSON; keyword arguments replace top-level members."""
    document: dict[str, Any] = {
        "subject": {
            "ids": [{"scheme": "CN_USCC", "value": USCC}, {"scheme": "LEI", "value": LEI}],
            "legalName": {
                "zh": "青岛海通国际贸易有限公司",
                "en": "Qingdao Haitong International Trade Co., Ltd.",
            },
            "country": "CN",
            "status": "ENTITY_STATUS_ACTIVE",
        },
        "ratings": [{"scheme": "CN_TAX", "grade": "A", "asOfDate": "2026-04-30"}],
        "aeo": [
            {
                "programCountry": "CN",
                "authorisationNumber": "CN3702960123",
                "type": "CN_ADVANCED",
                "status": "AEO_STATE_AUTHORISED",
            }
        ],
    }
    document.update(copy.deepcopy(overrides))
    return document


def with_subject(**subject: Any) -> dict[str, Any]:
    document = profile()
    document["subject"].update(subject)
    return document


def publish(
    exchange: ProfileExchange, partner: TestPartner, document: dict[str, Any] | bytes
) -> pb.PublishReceipt:
    """Publish ``document`` signed by ``partner`` and sent by it, as its request would be."""
    return exchange.publish_profile(
        pb.PublishProfileRequest(jws=partner.sign(document)), partner.as_partner()
    )


def read(
    exchange: ProfileExchange,
    reader: TestPartner,
    request: pb.GetProfileRequest,
    purpose: str = "credit_reporting",
) -> SignedVersion:
    """GetProfile at the service as ``reader``; ``purpose`` (the whole profile by default) is
    filled in unless the request states one."""
    stated = pb.GetProfileRequest()
    stated.CopyFrom(request)
    stated.purpose = stated.purpose or purpose
    return exchange.get_profile(stated, reader.as_partner())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_jws(header: dict[str, Any], payload: bytes, signature: bytes = b"") -> str:
    """A compact JWS assembled by hand, for forgeries the signing libraries refuse to make."""
    return ".".join((b64url(json.dumps(header).encode()), b64url(payload), b64url(signature)))


def jws_payload(jws: str) -> bytes:
    return base64.urlsafe_b64decode(jws.split(".")[1] + "==")


def joserfc_registry(algorithms: list[str]) -> Any:
    """joserfc refuses header parameters it does not know unless declared: the gateway's
    protected header carries iat and iss (RFC 7515 section 4.3 private parameters)."""
    from joserfc.jws import JWSRegistry
    from joserfc.registry import HeaderParameter

    return JWSRegistry(
        header_registry={
            "iat": HeaderParameter("Issued at", "int"),
            "iss": HeaderParameter("Issuer", "str"),
        },
        algorithms=algorithms,
    )


def make_kz_bins(count: int) -> list[str]:
    """Valid, distinct Kazakh BINs (legal entity, head office) for bulk test data."""
    from gateway.identifiers._schemes import kz_bin_check_digit

    bins = []
    serial = 10000
    while len(bins) < count:
        first11 = f"210140{serial:05d}"
        check = kz_bin_check_digit(first11)
        if check is not None:
            bins.append(first11 + check)
        serial += 1
    return bins


def missing_tool(message: str, install: str) -> NoReturn:
    """A test's outside tool is missing: fail (never skip, so a run cannot pass without it)."""
    import pytest

    pytest.fail(f"{message}; install {install}", pytrace=False)


def acting_pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool whose threads act as the test (a new thread starts with no actor)."""
    return ThreadPoolExecutor(workers, initializer=_act_as_test)


_WORKER_ACTORS: list[Any] = []  # kept: a collected context manager would reset its actor


def _act_as_test() -> None:
    acting = acting_as(TEST_ACTOR)
    acting.__enter__()  # for the worker thread's whole life
    _WORKER_ACTORS.append(acting)
