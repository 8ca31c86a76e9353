"""The REST API against its own OpenAPI document, fuzzed by schemathesis (an independent tool).

Every check runs except positive_data_acceptance: it expects every schema-valid request to
succeed, but identifier check digits and opaque page tokens cannot be expressed in JSON Schema,
so a schema-valid `value=0` or `page_token=x` is rightly a 400 naming the field.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from gateway.schema.cxg.v1.profile_service_pb2 import PublishProfileRequest
from gateway.transport.serve import Gateway
from tests.support import TestPartner, profile


def test_rest_api_passes_schemathesis(
    gateway: Gateway, partners: dict[str, TestPartner], tmp_path: Path
) -> None:
    gateway.exchange.publish_profile(
        PublishProfileRequest(jws=partners["cn-customs"].sign(profile()))
    )
    schemathesis = Path(sys.executable).with_name("schemathesis")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"http://127.0.0.1:{gateway.rest_port}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--seed",
            "20261127",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    operations = sum(
        len(path)
        for path in httpx.get(f"http://127.0.0.1:{gateway.rest_port}/openapi.json")
        .json()["paths"]
        .values()
    )
    assert f"Tested: {operations}" in result.stdout, result.stdout[
        -3000:
    ]  # every operation was exercised
