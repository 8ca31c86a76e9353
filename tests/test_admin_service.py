"""The admin API's partner use cases, proto in and proto out: what each answers, the field each
error names, and the fields a caller may not set (mass assignment)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.struct_pb2 import Struct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import Conflict, GatewayError, InvalidArgument, NotFound, PermissionDenied
from gateway.schema.cxg.v1 import admin_service_pb2 as pb
from gateway.service.admin import AdminApi
from gateway.service.partners import PartnerAdmin
from gateway.signing import SigningKey
from gateway.storage import Database
from gateway.trust import pki
from tests.support import TestPartner

Partners = dict[str, TestPartner]
Request = Callable[[], object]

OPERATOR = "cxg-operator"  # the caller of the admin API in these tests


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.init_ca(directory)
    return directory


@pytest.fixture
def certificate(pki_dir: Path) -> Callable[[str], str]:
    """Issues a fresh development client certificate (PEM) for a partner id."""

    def issue(partner_id: str) -> str:
        issued = pki.issue_partner_certificate(pki_dir, partner_id, replace=True)
        return issued.cert_path.read_text()

    return issue


@pytest.fixture
def changes() -> list[None]:
    return []


@pytest.fixture
def api(db: Database, changes: list[None]) -> AdminApi:
    return AdminApi(PartnerAdmin(db, on_change=lambda: changes.append(None)))


def struct(document: dict[str, Any]) -> Struct:
    message = Struct()
    message.update(document)
    return message


def new_partner(**fields: Any) -> pb.Partner:
    values: dict[str, Any] = {
        "id": "uz-bank",
        "display_name": "Demo Uzbek Bank",
        "country": "UZ",
        "roles": ["bank"],
    }
    return pb.Partner(**(values | fields))


def register_request(
    partner: pb.Partner | None = None,
    *,
    jwks: list[dict[str, Any]] | None = None,
    pems: Sequence[str] = (),
) -> pb.RegisterPartnerRequest:
    keys = [SigningKey.generate().public_jwk()] if jwks is None else jwks
    request = pb.RegisterPartnerRequest(
        jwks=[struct(jwk) for jwk in keys], certificate_pems=list(pems)
    )
    request.partner.CopyFrom(partner or new_partner())
    return request


def refused(call: Request, error: type[GatewayError], field: str | None) -> GatewayError:
    with pytest.raises(error) as caught:
        call()
    assert caught.value.field == field, caught.value
    return caught.value


def test_register_answers_the_partner_as_get_and_list_do(
    api: AdminApi, certificate: Callable[[str], str], changes: list[None]
) -> None:
    key = SigningKey.generate("ES256")
    pem = certificate("uz-bank")
    partner = new_partner(
        purposes=["credit_assessment"],
        operations=["GetProfile", "GetConsent"],
        quota=pb.Quota(burst=20, daily_requests=5000),
    )
    registered = api.register_partner(
        register_request(partner, jwks=[key.public_jwk()], pems=[pem])
    )
    assert registered == api.get_partner(pb.GetPartnerRequest(partner_id="uz-bank"))
    assert (registered.id, registered.display_name, registered.country, registered.status) == (
        "uz-bank",
        "Demo Uzbek Bank",
        "UZ",
        "active",
    )
    assert list(registered.operations) == ["GetConsent", "GetProfile"]
    assert list(registered.purposes) == ["credit_assessment"]
    assert registered.quota == pb.Quota(burst=20, daily_requests=5000)  # rps 0: the default
    [registered_key] = registered.keys
    assert (registered_key.kid, registered_key.alg, registered_key.status) == (
        key.kid,
        "ES256",
        "active",
    )
    # The JWK as registered: the key's one use is implied by its registration.
    assert registered_key.jwk == struct(
        {k: v for k, v in key.public_jwk().items() if k not in ("use", "key_ops")}
    )
    assert not registered_key.HasField("not_before") and not registered_key.HasField("not_after")
    [cert] = registered.certificates
    assert cert.thumbprint == pki.certificate_thumbprint(pem.encode())
    assert "CN=uz-bank" in cert.subject
    assert cert.not_after.ToDatetime(tzinfo=UTC) > datetime.now(UTC)
    listed = api.list_partners(pb.ListPartnersRequest()).partners
    assert [p.id for p in listed] == sorted(p.id for p in listed) and registered in listed
    assert changes  # the gateway's cache hears of it


@pytest.mark.parametrize(
    ("partner", "field"),
    [
        (new_partner(status="suspended"), "partner.status"),
        (new_partner(status="revoked"), "partner.status"),
        (new_partner(keys=[pb.PartnerKey(kid="smuggled", alg="EdDSA")]), "partner.keys"),
        (new_partner(certificates=[pb.PartnerCertificate(thumbprint="x")]), "partner.certificates"),
    ],
    ids=["status-suspended", "status-unknown", "keys", "certificates"],
)
def test_mass_assignment_is_refused(api: AdminApi, partner: pb.Partner, field: str) -> None:
    refused(lambda: api.register_partner(register_request(partner)), InvalidArgument, field)
    refused(
        lambda: api.get_partner(pb.GetPartnerRequest(partner_id=partner.id)), NotFound, "partner_id"
    )


def test_a_partner_may_be_registered_explicitly_active(api: AdminApi) -> None:
    assert api.register_partner(register_request(new_partner(status="active"))).status == "active"


def _private_jwk() -> dict[str, Any]:
    return SigningKey.generate().public_jwk() | {"d": "c2VjcmV0"}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.RegisterPartnerRequest(), "partner"),
        (register_request(new_partner(id="Bad Id")), "partner.id"),
        (register_request(new_partner(display_name=" ")), "partner.display_name"),
        (register_request(new_partner(country="Uzbekistan")), "partner.country"),
        (register_request(new_partner(roles=[])), "partner.roles"),
        (register_request(new_partner(roles=["bank", "king"])), "partner.roles"),
        (
            register_request(new_partner(operations=["GetProfile", "DropTables"])),
            "partner.operations",
        ),
        (register_request(new_partner(purposes=["gossip"])), "partner.purposes"),
        (register_request(new_partner(quota=pb.Quota(burst=-1))), "partner.quota.burst"),
        (
            register_request(new_partner(quota=pb.Quota(daily_requests=-5))),
            "partner.quota.daily_requests",
        ),
        (
            register_request(new_partner(quota=pb.Quota(requests_per_second=math.nan))),
            "partner.quota.requests_per_second",
        ),
        (
            register_request(jwks=[SigningKey.generate().public_jwk(), _private_jwk()]),
            "jwks[1]",
        ),
        (register_request(jwks=[{"kty": "OKP", "alg": "none"}]), "jwks[0]"),
        (
            # Key bytes of the wrong length were an unmapped library error (a 500) once.
            register_request(jwks=[{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "alg": "EdDSA"}]),
            "jwks[0]",
        ),
        (
            register_request(
                pems=["-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"]
            ),
            "certificate_pems[0]",
        ),
        (register_request(pems=["not a certificate"]), "certificate_pems[0]"),
    ],
    ids=[
        "no-partner",
        "id",
        "name",
        "country",
        "no-roles",
        "unknown-role",
        "operations",
        "purposes",
        "burst",
        "daily",
        "rps-nan",
        "private-jwk",
        "alg-none",
        "short-key",
        "bad-certificate",
        "not-pem",
    ],
)
def test_registration_errors_name_the_field(
    api: AdminApi, request_: pb.RegisterPartnerRequest, field: str
) -> None:
    refused(lambda: api.register_partner(request_), InvalidArgument, field)
    assert "uz-bank" not in {p.id for p in api.list_partners(pb.ListPartnersRequest()).partners}


def test_a_certificate_pem_with_its_private_key_is_refused(
    api: AdminApi, certificate: Callable[[str], str], pki_dir: Path
) -> None:
    pem = certificate("uz-bank") + (pki_dir / "partners" / "uz-bank-key.pem").read_text()
    error = refused(
        lambda: api.register_partner(register_request(pems=[pem])),
        InvalidArgument,
        "certificate_pems[0]",
    )
    assert "private key" in error.message


def test_registration_conflicts_write_nothing(
    api: AdminApi, certificate: Callable[[str], str], partners: Partners
) -> None:
    taken = certificate("kz-bank")
    api.add_partner_certificate(
        pb.AddPartnerCertificateRequest(partner_id="kz-bank", certificate_pem=taken)
    )
    refused(
        lambda: api.register_partner(register_request(pems=[taken])),
        Conflict,
        "certificate_pems[0]",
    )
    twice = certificate("uz-bank")
    refused(
        lambda: api.register_partner(register_request(pems=[twice, twice])),
        Conflict,
        "certificate_pems[1]",
    )
    taken_key = partners["ru-bureau"].key.public_jwk()
    refused(lambda: api.register_partner(register_request(jwks=[taken_key])), Conflict, None)
    refused(
        lambda: api.get_partner(pb.GetPartnerRequest(partner_id="uz-bank")), NotFound, "partner_id"
    )
    refused(
        lambda: api.register_partner(register_request(new_partner(id="kz-bank"))), Conflict, None
    )


def test_suspend_and_reinstate(api: AdminApi) -> None:
    assert api.suspend_partner(pb.PartnerRef(partner_id="kz-bank"), OPERATOR).status == "suspended"
    assert api.reinstate_partner(pb.PartnerRef(partner_id="kz-bank")).status == "active"


def test_add_key_with_a_validity_window(api: AdminApi) -> None:
    key = SigningKey.generate()
    start = datetime(2030, 1, 1, tzinfo=UTC)
    request = pb.AddPartnerKeyRequest(partner_id="cn-customs", jwk=struct(key.public_jwk()))
    request.not_before.FromDatetime(start)
    request.not_after.FromDatetime(start + timedelta(days=90))
    answered = api.add_partner_key(request)
    added = next(k for k in answered.keys if k.kid == key.kid)
    assert added.not_before.ToDatetime(tzinfo=UTC) == start
    assert added.not_after.ToDatetime(tzinfo=UTC) == start + timedelta(days=90)
    assert len(answered.keys) == 2  # the first key still verifies: rotation without downtime


def test_add_key_errors_name_the_field(api: AdminApi, partners: Partners) -> None:
    jwk = struct(SigningKey.generate().public_jwk())

    def add(**fields: Any) -> Request:
        return lambda: api.add_partner_key(pb.AddPartnerKeyRequest(**fields))

    refused(add(jwk=jwk), InvalidArgument, "partner_id")
    refused(add(partner_id="nobody", jwk=jwk), NotFound, "partner_id")
    refused(add(partner_id="kz-bank"), InvalidArgument, "jwk")
    refused(add(partner_id="kz-bank", jwk=struct(_private_jwk())), InvalidArgument, "jwk")
    same = struct(partners["kz-bank"].key.public_jwk())
    refused(add(partner_id="kz-bank", jwk=same), Conflict, None)
    backwards = pb.AddPartnerKeyRequest(partner_id="kz-bank", jwk=jwk)
    backwards.not_before.FromDatetime(datetime(2030, 1, 2, tzinfo=UTC))
    backwards.not_after.FromDatetime(datetime(2030, 1, 1, tzinfo=UTC))
    refused(lambda: api.add_partner_key(backwards), InvalidArgument, "not_after")
    beyond = pb.AddPartnerKeyRequest(partner_id="kz-bank", jwk=jwk)
    beyond.not_after.seconds = 2**62  # gRPC carries it; no datetime holds it
    refused(lambda: api.add_partner_key(beyond), InvalidArgument, "not_after")


def test_retire_key_only_of_the_partner_named(api: AdminApi, partners: Partners) -> None:
    bureau_kid, bank_kid = partners["ru-bureau"].key.kid, partners["kz-bank"].key.kid
    foreign = refused(
        lambda: api.retire_partner_key(
            pb.RetirePartnerKeyRequest(partner_id="ru-bureau", kid=bank_kid), OPERATOR
        ),
        NotFound,
        "kid",
    )
    unknown = refused(
        lambda: api.retire_partner_key(
            pb.RetirePartnerKeyRequest(partner_id="ru-bureau", kid="no-such-kid"), OPERATOR
        ),
        NotFound,
        "kid",
    )
    # Another partner's kid is answered exactly as one never registered.
    assert foreign.message.replace(bank_kid, "K") == unknown.message.replace("no-such-kid", "K")
    bank = api.get_partner(pb.GetPartnerRequest(partner_id="kz-bank"))
    assert [k.status for k in bank.keys] == ["active"]
    retired = api.retire_partner_key(
        pb.RetirePartnerKeyRequest(partner_id="ru-bureau", kid=bureau_kid), OPERATOR
    )
    assert [(k.kid, k.status) for k in retired.keys] == [(bureau_kid, "retired")]
    refused(
        lambda: api.retire_partner_key(
            pb.RetirePartnerKeyRequest(partner_id="ru-bureau"), OPERATOR
        ),
        InvalidArgument,
        "kid",
    )
    refused(
        lambda: api.retire_partner_key(
            pb.RetirePartnerKeyRequest(partner_id="nobody", kid=bank_kid), OPERATOR
        ),
        NotFound,
        "partner_id",
    )


def test_add_and_remove_certificates(api: AdminApi, certificate: Callable[[str], str]) -> None:
    pem = certificate("kz-bank")
    thumbprint = pki.certificate_thumbprint(pem.encode())
    add = pb.AddPartnerCertificateRequest(partner_id="kz-bank", certificate_pem=pem)
    assert [c.thumbprint for c in api.add_partner_certificate(add).certificates] == [thumbprint]
    refused(lambda: api.add_partner_certificate(add), Conflict, None)
    refused(
        lambda: api.add_partner_certificate(
            pb.AddPartnerCertificateRequest(partner_id="ru-bureau", certificate_pem=pem)
        ),
        Conflict,
        None,
    )
    remove = pb.RemovePartnerCertificateRequest(partner_id="kz-bank", thumbprint=thumbprint)
    refused(
        lambda: api.remove_partner_certificate(
            pb.RemovePartnerCertificateRequest(partner_id="ru-bureau", thumbprint=thumbprint),
            OPERATOR,
        ),
        NotFound,
        "thumbprint",
    )
    assert not api.remove_partner_certificate(remove, OPERATOR).certificates
    refused(lambda: api.remove_partner_certificate(remove, OPERATOR), NotFound, "thumbprint")


@pytest.mark.parametrize(
    ("pem", "error", "field"),
    [
        ("", InvalidArgument, "certificate_pem"),
        ("not a certificate", InvalidArgument, "certificate_pem"),
    ],
)
def test_add_certificate_errors_name_the_field(
    api: AdminApi, pem: str, error: type[GatewayError], field: str
) -> None:
    request = pb.AddPartnerCertificateRequest(partner_id="kz-bank", certificate_pem=pem)
    refused(lambda: api.add_partner_certificate(request), error, field)


@pytest.mark.parametrize(
    ("quota", "field"),
    [
        (pb.Quota(burst=-1), "quota.burst"),
        (pb.Quota(daily_requests=-1), "quota.daily_requests"),
        (pb.Quota(requests_per_second=-0.5), "quota.requests_per_second"),
        (pb.Quota(requests_per_second=math.inf), "quota.requests_per_second"),
        (pb.Quota(requests_per_second=math.nan), "quota.requests_per_second"),
    ],
    ids=["burst", "daily", "rps-negative", "rps-infinite", "rps-nan"],
)
def test_set_quota_errors_name_the_field(api: AdminApi, quota: pb.Quota, field: str) -> None:
    request = pb.SetPartnerQuotaRequest(partner_id="kz-bank", quota=quota)
    refused(lambda: api.set_partner_quota(request, OPERATOR), InvalidArgument, field)
    assert api.get_partner(pb.GetPartnerRequest(partner_id="kz-bank")).quota == pb.Quota()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rps=st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e6)),
    burst=st.integers(min_value=0, max_value=2**31 - 1),
    daily=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_set_quota_round_trips(api: AdminApi, rps: float, burst: int, daily: int) -> None:
    """Any valid quota comes back as set, 0 (the default) included; setting replaces it whole."""
    quota = pb.Quota(requests_per_second=rps, burst=burst, daily_requests=daily)
    answered = api.set_partner_quota(
        pb.SetPartnerQuotaRequest(partner_id="kz-bank", quota=quota), OPERATOR
    )
    assert answered.quota == quota


def _every_call(api: AdminApi, partner_id: str) -> dict[str, Request]:
    jwk = struct(SigningKey.generate().public_jwk())
    return {
        "get": lambda: api.get_partner(pb.GetPartnerRequest(partner_id=partner_id)),
        "suspend": lambda: api.suspend_partner(pb.PartnerRef(partner_id=partner_id), OPERATOR),
        "reinstate": lambda: api.reinstate_partner(pb.PartnerRef(partner_id=partner_id)),
        "add-key": lambda: api.add_partner_key(
            pb.AddPartnerKeyRequest(partner_id=partner_id, jwk=jwk)
        ),
        "retire-key": lambda: api.retire_partner_key(
            pb.RetirePartnerKeyRequest(partner_id=partner_id, kid="k"), OPERATOR
        ),
        "add-certificate": lambda: api.add_partner_certificate(
            pb.AddPartnerCertificateRequest(partner_id=partner_id, certificate_pem="x")
        ),
        "remove-certificate": lambda: api.remove_partner_certificate(
            pb.RemovePartnerCertificateRequest(partner_id=partner_id, thumbprint="t"), OPERATOR
        ),
        "set-quota": lambda: api.set_partner_quota(
            pb.SetPartnerQuotaRequest(partner_id=partner_id), OPERATOR
        ),
    }


@pytest.mark.parametrize(
    ("partner_id", "error"), [("", InvalidArgument), ("nobody", NotFound)], ids=["empty", "unknown"]
)
def test_every_call_names_a_missing_partner(
    api: AdminApi, partner_id: str, error: type[GatewayError]
) -> None:
    for name, call in _every_call(api, partner_id).items():
        with pytest.raises(error) as caught:
            call()
        assert caught.value.field == "partner_id", name


def test_on_change_runs_after_every_mutation(
    api: AdminApi, changes: list[None], certificate: Callable[[str], str], partners: Partners
) -> None:
    pem = certificate("kz-bank")
    thumbprint = pki.certificate_thumbprint(pem.encode())
    mutations: list[Request] = [
        lambda: api.register_partner(register_request()),
        lambda: api.suspend_partner(pb.PartnerRef(partner_id="uz-bank"), OPERATOR),
        lambda: api.reinstate_partner(pb.PartnerRef(partner_id="uz-bank")),
        lambda: api.add_partner_key(
            pb.AddPartnerKeyRequest(
                partner_id="kz-bank", jwk=struct(SigningKey.generate().public_jwk())
            )
        ),
        lambda: api.retire_partner_key(
            pb.RetirePartnerKeyRequest(partner_id="kz-bank", kid=partners["kz-bank"].key.kid),
            OPERATOR,
        ),
        lambda: api.add_partner_certificate(
            pb.AddPartnerCertificateRequest(partner_id="kz-bank", certificate_pem=pem)
        ),
        lambda: api.remove_partner_certificate(
            pb.RemovePartnerCertificateRequest(partner_id="kz-bank", thumbprint=thumbprint),
            OPERATOR,
        ),
        lambda: api.set_partner_quota(
            pb.SetPartnerQuotaRequest(partner_id="kz-bank", quota=pb.Quota(burst=3)), OPERATOR
        ),
    ]
    for count, mutate in enumerate(mutations, start=1):
        mutate()
        assert len(changes) == count
    api.get_partner(pb.GetPartnerRequest(partner_id="kz-bank"))
    api.list_partners(pb.ListPartnersRequest())
    assert len(changes) == len(mutations)  # reading changes nothing


def test_an_operator_cannot_lock_itself_out(
    api: AdminApi, partners: dict[str, TestPartner], certificate: Callable[[str], str]
) -> None:
    operator = partners["cxg-operator"]
    api.add_partner_certificate(
        pb.AddPartnerCertificateRequest(partner_id=OPERATOR, certificate_pem=certificate(OPERATOR))
    )
    thumbprint = api.get_partner(pb.GetPartnerRequest(partner_id=OPERATOR)).certificates[0]
    for call in (
        lambda: api.suspend_partner(pb.PartnerRef(partner_id=OPERATOR), OPERATOR),
        lambda: api.retire_partner_key(
            pb.RetirePartnerKeyRequest(partner_id=OPERATOR, kid=operator.key.kid), OPERATOR
        ),
        lambda: api.remove_partner_certificate(
            pb.RemovePartnerCertificateRequest(
                partner_id=OPERATOR, thumbprint=thumbprint.thumbprint
            ),
            OPERATOR,
        ),
        lambda: api.set_partner_quota(
            pb.SetPartnerQuotaRequest(partner_id=OPERATOR, quota=pb.Quota(burst=1)), OPERATOR
        ),
    ):
        refused(call, PermissionDenied, "partner_id")
    standing = api.get_partner(pb.GetPartnerRequest(partner_id=OPERATOR))
    assert standing.status == "active" and standing.certificates and not standing.quota.burst
    assert [k.status for k in standing.keys] == ["active"]
    # With a second key, retiring the first is a rotation, not a lock-out.
    api.add_partner_key(
        pb.AddPartnerKeyRequest(
            partner_id=OPERATOR, jwk=struct(SigningKey.generate("EdDSA").public_jwk())
        )
    )
    retired = api.retire_partner_key(
        pb.RetirePartnerKeyRequest(partner_id=OPERATOR, kid=operator.key.kid), OPERATOR
    )
    assert sorted(k.status for k in retired.keys) == ["active", "retired"]
