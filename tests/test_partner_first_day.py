"""A new partner's first day, from the README alone, against a running gateway: it makes a key
pair (``cxg partners keygen``), the operator registers it with the command keygen printed, the
partner learns everything else from the OAuth metadata (a token bought with joserfc, knowing
nothing but the metadata), calls with curl (``cxg client token`` / ``dpop``), with a gRPC client
that knows the API only through server reflection, and with the SDK, and publishes a profile."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import grpc
import httpx
from cxg_client import Client, PartnerKey
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey

from gateway.config import Settings
from gateway.transport.serve import Gateway

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "clients" / "python" / "examples" / "profile.json"  # a KZ company
PARTNER = "steppe-bank"


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_a_partners_first_day(gateway: Gateway, settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CXG_DATABASE_URL": settings.database_url,
        "CXG_KEYS_DIR": str(settings.keys_dir),
        "CXG_REST_PORT": str(gateway.rest_port),
        "CXG_GRPC_PORT": str(gateway.grpc_port),
        "CXG_CLIENT_DIR": str(tmp_path / "client-state"),
        "CXG_PARTNER": PARTNER,
    }
    base = f"http://127.0.0.1:{gateway.rest_port}"

    # 1. The partner makes its key pair; keygen prints the operator's registration command.
    made = run(
        [
            "cxg",
            "partners",
            "keygen",
            PARTNER,
            "--name",
            "Steppe Bank",
            "--country",
            "KZ",
            "--role",
            "bank",
        ],
        env,
    )
    assert made.returncode == 0, made.stderr
    printed = next(line for line in made.stdout.splitlines() if "cxg partners add" in line)
    register = printed[printed.index("cxg partners add") :]
    private_pem = settings.keys_dir / "private" / f"{PARTNER}.pem"
    assert private_pem.stat().st_mode & 0o777 == 0o600

    # 2. The operator runs that command as printed.
    registered = run(shlex.split(register), env)
    assert registered.returncode == 0, registered.stderr
    time.sleep(settings.trust_cache_seconds)  # another process changed the registry

    # 3. Everything a client needs is in the metadata: a token with joserfc alone.
    metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
    key = private_key_jwk(private_pem)
    now = int(time.time())
    # joserfc warns that RFC 9864 deprecates "EdDSA" for "Ed25519"; the gateway names EdDSA.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        client_assertion = jwt.encode(
            {
                "alg": metadata["token_endpoint_auth_signing_alg_values_supported"][0],
                "kid": key.kid,
            },
            {
                "iss": PARTNER,
                "sub": PARTNER,
                "aud": metadata["cxg_client_assertion_audience"],
                "iat": now,
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
            },
            key,
            algorithms=metadata["token_endpoint_auth_signing_alg_values_supported"],
        )
    dpop_key = ECKey.generate_key("P-256")
    proof = jwt.encode(
        {"alg": "ES256", "typ": "dpop+jwt", "jwk": dpop_key.as_dict(private=False)},
        {"htm": "POST", "htu": metadata["token_endpoint"], "iat": now, "jti": uuid.uuid4().hex},
        dpop_key,
    )
    issued = httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": metadata["grant_types_supported"][0],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion,
        },
        headers={"DPoP": proof},
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "DPoP" and issued.headers["DPoP-Nonce"]

    # 4. The SDK publishes the sample profile, and reads it back verified over gRPC.
    with Client(
        PartnerKey.from_file(PARTNER, private_pem),
        gateway_id=settings.gateway_id,
        rest_url=base,
        grpc_target=f"127.0.0.1:{gateway.grpc_port}",
        transport="grpc",
    ) as sdk:
        receipt = sdk.publish_profile(SAMPLE.read_bytes())
        assert receipt.version == 1
        signed = sdk.get_profile(receipt.profile_name, purpose="trade_due_diligence")
        assert signed.profile["subject"]["ids"][0]["value"] == "180440001235"

    # 5. curl, with the token and proof the CLI prints (the README's one-liner).
    url = f"{base}/v1/profiles:lookup?scheme=KZ_BIN&value=180440001235&purpose=trade_due_diligence"
    curl = run(
        [
            "bash",
            "-c",
            'curl -sS --fail-with-body -H "Authorization: DPoP $(cxg client token)"'
            ' -H "DPoP: $(cxg client dpop GET "$URL")" "$URL"',
        ],
        {**env, "URL": url},
    )
    assert curl.returncode == 0, curl.stdout + curl.stderr
    assert json.loads(curl.stdout)["profile"]["name"] == receipt.profile_name

    # 6. gRPC by server reflection (grpcurl's way), with the CLI's token and proof.
    token = run(["cxg", "client", "token"], env).stdout.strip()
    grpc_proof = run(
        ["cxg", "client", "dpop", "POST", "cxg.v1.ProfileService/SearchProfiles"], env
    ).stdout.strip()
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        method = pool.FindServiceByName("cxg.v1.ProfileService").methods_by_name["SearchProfiles"]
        request_type = message_factory.GetMessageClass(method.input_type)
        response_type = message_factory.GetMessageClass(method.output_type)
        search = channel.unary_unary(
            "/cxg.v1.ProfileService/SearchProfiles",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        answer = search(
            json_format.Parse('{"country": "KZ"}', request_type()),
            timeout=30,
            metadata=(("authorization", f"DPoP {token}"), ("dpop", grpc_proof)),
        )
    found = json_format.MessageToDict(answer)
    assert [r["name"] for r in found["results"]] == [receipt.profile_name]


def private_key_jwk(path: Path) -> OKPKey:
    """The partner's private key (keygen's default, Ed25519) as joserfc sees it, with its
    RFC 7638 thumbprint as kid, as the gateway names partner keys."""
    key = OKPKey.import_key(path.read_bytes())
    key.ensure_kid()
    return key
