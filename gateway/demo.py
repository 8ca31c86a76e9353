"""Demo partner institutions and companies for a development gateway.

``cxg demo`` generates a key for each demo partner (private keys under ``keys/private/``, never
committed), registers its public key under ``keys/partners/``, and publishes the demo companies
through the real publish path: each profile is a JWS signed by its partner's key and verified
by the gateway like any other. All companies are fictional; their identifiers are valid.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.config import Settings
from gateway.errors import Conflict, NotFound
from gateway.schema.cxg.v1.profile_service_pb2 import GetProfileRequest, PublishProfileRequest
from gateway.service import ProfileExchange
from gateway.service.profiles import PUBLISH_TYP
from gateway.signing import SigningKey
from gateway.trust import Partner

PARTNERS: tuple[dict[str, Any], ...] = (
    {
        "id": "demo-ru-credit-bureau",
        "name": "Demo Russian Credit Bureau",
        "country": "RU",
        "roles": ["credit_bureau"],
    },
    {"id": "demo-kz-bank", "name": "Demo Kazakh Bank", "country": "KZ", "roles": ["bank"]},
    {
        "id": "demo-cn-qingdao-customs",
        "name": "Demo Qingdao Customs",
        "country": "CN",
        "roles": ["customs"],
    },
    {
        "id": "demo-cn-sme-portal",
        "name": "Demo Qingdao SME Portal",
        "country": "CN",
        "roles": ["sme_portal"],
    },
    {
        "id": "demo-operator",
        "name": "Demo Gateway Operator",
        "country": "CN",
        "roles": ["operator"],
    },
)

# (publishing partner, profile in proto3 JSON)
COMPANIES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "demo-cn-qingdao-customs",
        {
            "subject": {
                "ids": [
                    {"scheme": "CN_USCC", "value": "91370200MA3C5QH2X4"},
                    {"scheme": "LEI", "value": "300300C5RZ2QH1KX1M86"},
                    {"scheme": "AEO", "value": "CN3702960123"},
                ],
                "legalName": {
                    "zh": "青岛海通国际贸易有限公司",
                    "en": "Qingdao Haitong International Trade Co., Ltd.",
                    "ru": "Циндао Хайтун Интернэшнл Трейд Ко., Лтд.",
                },
                "country": "CN",
                "address": {
                    "country": "CN",
                    "region": "山东省",
                    "locality": "青岛市",
                    "street": "黄岛区长江中路 88 号",
                },
                "legalForm": "有限责任公司",
                "status": "ENTITY_STATUS_ACTIVE",
                "registrationDate": "2016-03-18",
            },
            "ratings": [
                {
                    "scheme": "CN_TAX",
                    "grade": "A",
                    "asOfDate": "2026-04-30",
                    "issuer": "国家税务总局青岛市税务局",
                }
            ],
            "aeo": [
                {
                    "programCountry": "CN",
                    "authorisationNumber": "CN3702960123",
                    "type": "CN_ADVANCED",
                    "status": "AEO_STATE_AUTHORISED",
                    "authorisedDate": "2022-09-01",
                }
            ],
            "provenance": {
                "sourceRecordId": "QDC-AEO-2022-0417",
                "retrievedAt": "2026-11-30T00:00:00Z",
            },
        },
    ),
    (
        "demo-cn-qingdao-customs",
        {
            "subject": {
                "ids": [{"scheme": "CN_USCC", "value": "91370211MA3D8KLN40"}],
                "legalName": {
                    "zh": "青岛蓝海冷链物流有限公司",
                    "en": "Qingdao Blue Sea Cold Chain Logistics Co., Ltd.",
                },
                "country": "CN",
                "legalForm": "有限责任公司",
                "status": "ENTITY_STATUS_ACTIVE",
            },
            "publicRecords": [
                {
                    "kind": "PUBLIC_RECORD_KIND_PENALTY",
                    "authority": {
                        "zh": "青岛市市场监督管理局",
                        "en": "Qingdao Administration for Market Regulation",
                    },
                    "decisionNumber": "青市监处罚〔2025〕118号",
                    "decisionDate": "2025-06-12",
                    "summary": {"en": "Late filing of annual report; fine paid."},
                    "repairState": "REPAIR_STATE_REQUESTED",
                }
            ],
            "provenance": {"sourceRecordId": "QDC-2025-118", "retrievedAt": "2026-11-30T00:00:00Z"},
        },
    ),
    (
        "demo-ru-credit-bureau",
        {
            "subject": {
                "ids": [
                    {"scheme": "RU_INN", "value": "7708123450"},
                    {"scheme": "RU_OGRN", "value": "1027700123450"},
                ],
                "legalName": {"ru": "ООО «Северный Путь»", "en": "Severny Put LLC"},
                "country": "RU",
                "address": {"country": "RU", "locality": "Москва", "street": "ул. Лесная, д. 5"},
                "legalForm": "ООО",
                "status": "ENTITY_STATUS_ACTIVE",
                "registrationDate": "2002-11-05",
            },
            "ratings": [
                {
                    "scheme": "RU_BUREAU_DEMO",
                    "grade": "B+",
                    "asOfDate": "2026-10-01",
                    "issuer": "demo-ru-credit-bureau",
                }
            ],
            "provenance": {"sourceRecordId": "RU-CR-000917", "retrievedAt": "2026-11-30T00:00:00Z"},
        },
    ),
    (
        "demo-kz-bank",
        {
            "subject": {
                "ids": [{"scheme": "KZ_BIN", "value": "180440001235"}],
                "legalName": {
                    "ru": "ТОО «Степной Караван»",
                    "en": "Stepnoy Karavan LLP",
                    "local": "«Дала Керуені» ЖШС",
                    "localLang": "kk",
                },
                "country": "KZ",
                "legalForm": "ТОО",
                "status": "ENTITY_STATUS_ACTIVE",
            },
            "ratings": [
                {
                    "scheme": "SP_LT",
                    "grade": "BB",
                    "asOfDate": "2026-07-15",
                    "issuer": "S&P Global Ratings",
                }
            ],
            "provenance": {"sourceRecordId": "KZB-55120", "retrievedAt": "2026-11-30T00:00:00Z"},
        },
    ),
    (
        "demo-kz-bank",
        {
            "subject": {
                "ids": [{"scheme": "KZ_BIN", "value": "201040004561"}],
                "legalName": {"ru": "АО «Алтын Жол Логистикс»", "en": "Altyn Zhol Logistics JSC"},
                "country": "KZ",
                "legalForm": "АО",
                "status": "ENTITY_STATUS_ACTIVE",
            },
            "provenance": {"sourceRecordId": "KZB-60871", "retrievedAt": "2026-11-30T00:00:00Z"},
        },
    ),
)


def ensure_partners(settings: Settings) -> dict[str, SigningKey]:
    """The demo partners' signing keys, generating and registering any that are missing."""
    private_dir = settings.keys_dir / "private"
    private_dir.mkdir(parents=True, exist_ok=True)
    settings.partners_dir.mkdir(parents=True, exist_ok=True)
    keys = {}
    for partner in PARTNERS:
        pem_path = private_dir / f"{partner['id']}.pem"
        if pem_path.exists():
            private = serialization.load_pem_private_key(pem_path.read_bytes(), None)
            assert isinstance(private, ed25519.Ed25519PrivateKey)
            key = SigningKey.from_private_key(private)
        else:
            key = SigningKey.generate("EdDSA")
            _write_private(pem_path, key.private_pem())
        record = {**partner, "status": "active", "jwks": {"keys": [key.public_jwk()]}}
        (settings.partners_dir / f"{partner['id']}.json").write_text(
            json.dumps(record, indent=2) + "\n"
        )
        keys[partner["id"]] = key
    return keys


def seed(
    exchange: ProfileExchange, keys: dict[str, SigningKey], publishers: dict[str, Partner]
) -> list[str]:
    """Publish each demo company not yet stored, as its partner; return their first
    identifiers."""
    first_ids = []
    for partner_id, profile in COMPANIES:
        first = profile["subject"]["ids"][0]
        first_ids.append(f"{first['scheme']} {first['value']}")
        publisher = publishers[partner_id]
        if _exists(exchange, first, publisher):
            continue
        payload = json.dumps(profile, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        jws = keys[partner_id].sign_jws(payload, {"typ": PUBLISH_TYP})
        with contextlib.suppress(Conflict):  # published by a concurrent run
            exchange.publish_profile(PublishProfileRequest(jws=jws), publisher)
    return first_ids


def _exists(exchange: ProfileExchange, entity_id: dict[str, str], caller: Partner) -> bool:
    try:
        exchange.get_profile(GetProfileRequest(id=entity_id, purpose="trade_due_diligence"), caller)
    except NotFound:
        return False
    return True


def _write_private(path: Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
