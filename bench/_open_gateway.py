"""The gateway with admission switched off: bench_auth.py's "unauthenticated" reference (mode A)
and the gateway that bench_get_profile.py measures against its bare baselines.

    CXG_...=... python bench/_open_gateway.py PARTNER_ID [--no-audit]

The benchmarks start it through ``bench_get_profile.launch_gateway(..., open_gate=True)``;
bench_audit.py starts it twice, with and without ``--no-audit``.

Runs what ``cxg serve`` runs (``Gateway(Settings.from_env())``, same settings, same mutual TLS,
same logs and traces, same listening line) except that its gatekeeper is ``OpenGate``: it admits every call as one fixed
caller, PARTNER_ID, without reading a token, checking policy or charging a quota. The
difference between this process and ``cxg serve`` under the same load is therefore what
admission costs. This exists only under bench/: the product has no way to turn admission off.

``--no-audit`` (bench_audit.py's reference) also stops the audit log from recording: the
gateway's ``AuditLog.record_async`` is replaced, in this process only, by a coroutine that
returns leaf index -1 without making or writing a leaf. Everything else, including the
transports awaiting it, is unchanged, so the difference between the two under the same load is
what auditing costs. The product has no such switch either.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from gateway.audit.entries import Exchange
from gateway.cli import observe
from gateway.config import Settings
from gateway.service.access import Credentials, Gatekeeper
from gateway.service.tokens import Caller
from gateway.storage.partners import PartnerStore
from gateway.transport import serve


class OpenGate(Gatekeeper):
    """Admits every call as ``caller``, which is set once the gateway's database is open."""

    caller: Caller | None = None

    def screen(self, operation: str, source: str) -> None:
        pass  # its load sends no token: no call is anonymous here

    def admit_here(
        self,
        operation: str,
        credentials: Credentials,
        identified: Callable[[Caller | None], None],
    ) -> Caller | None:
        identified(self.caller)
        return self.caller

    async def admit(
        self,
        operation: str,
        credentials: Credentials,
        identified: Callable[[Caller | None], None],
    ) -> Caller | None:
        # On the loop: nothing to read, so no worker thread either.
        return self.admit_here(operation, credentials, identified)


async def unaudited(exchange: Exchange) -> int:
    """``AuditLog.record_async`` for ``--no-audit``: nothing recorded."""
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("partner_id")
    parser.add_argument(
        "--no-audit", action="store_true", help="record no audit leaf (bench_audit.py's reference)"
    )
    args = parser.parse_args()
    partner_id = args.partner_id
    settings = Settings.from_env()
    observe(settings)  # CXG_LOG_*, OTEL_*: as `cxg serve`
    # The gRPC handlers take the gatekeeper when Gateway() builds the server, so the class must
    # be swapped before, not the instance after. Only this process's module global changes.
    serve.Gatekeeper = OpenGate  # type: ignore[attr-defined]
    gateway = serve.Gateway(settings)
    gate = gateway.services.gate
    assert isinstance(gate, OpenGate)
    partner = PartnerStore(gateway.db).get(partner_id)
    if partner is None:
        parser.exit(1, f"_open_gateway: no partner {partner_id!r} in {settings.database_url}\n")
    gate.caller = Caller(partner=partner, token_id="bench")
    if args.no_audit:
        # Both transports call the instance's record_async() per exchange (gRPC through the object
        # its handlers hold, REST through app.state.services), so an instance attribute reaches
        # every call; the class, and any other process, are untouched.
        gateway.audit.record_async = unaudited  # type: ignore[method-assign]
    print(serve.listening(gateway), flush=True)  # as `cxg serve` prints it
    gateway.run()


if __name__ == "__main__":
    main()
