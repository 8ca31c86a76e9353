"""The gateway with admission switched off: bench_auth.py's "unauthenticated" reference (mode A)
and the gateway that bench_get_profile.py measures against its bare baselines.

    CXG_...=... python bench/_open_gateway.py PARTNER_ID

Both benchmarks start it through ``bench_get_profile.launch_gateway(..., open_gate=True)``.

Runs what ``cxg serve`` runs (``Gateway(Settings.from_env())``, same settings, same mutual TLS,
same log line) except that its gatekeeper is ``OpenGate``: it admits every call as one fixed
caller, PARTNER_ID, without reading a token, checking policy or charging a quota. The
difference between this process and ``cxg serve`` under the same load is therefore what
admission costs. This exists only under bench/: the product has no way to turn admission off.
"""

from __future__ import annotations

import sys

from gateway.config import Settings
from gateway.service.access import Credentials, Gatekeeper
from gateway.service.tokens import Caller
from gateway.storage.partners import PartnerStore
from gateway.transport import serve


class OpenGate(Gatekeeper):
    """Admits every call as ``caller``, which is set once the gateway's database is open."""

    caller: Caller | None = None

    def authenticate(self, operation: str, credentials: Credentials) -> Caller | None:
        return self.caller

    def authorize(self, operation: str, caller: Caller | None) -> None:
        pass


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    partner_id = sys.argv[1]
    settings = Settings.from_env()
    # The gRPC handlers take the gatekeeper when Gateway() builds the server, so the class must
    # be swapped before, not the instance after. Only this process's module global changes.
    serve.Gatekeeper = OpenGate  # type: ignore[attr-defined]
    gateway = serve.Gateway(settings)
    gate = gateway.services.gate
    assert isinstance(gate, OpenGate)
    partner = PartnerStore(gateway.db).get(partner_id)
    if partner is None:
        sys.exit(f"_open_gateway: no partner {partner_id!r} in {settings.database_url}")
    gate.caller = Caller(partner=partner, token_id="bench")
    print(serve.listening(gateway), flush=True)  # as `cxg serve` prints it
    gateway.run()


if __name__ == "__main__":
    main()
