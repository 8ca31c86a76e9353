"""Lookups that cross a border, as the answering gateway sees them: a peer gateway (a partner
with role ``gateway``) relays a question of one of its partners with a signed on-behalf-of
claim, which names the partner and the relay's id; both gateways' audit leaves name that id.

The relaying side is ``gateway/service/federation.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from gateway._json import JsonError, read_json_object
from gateway.errors import InvalidArgument, PermissionDenied, Unauthenticated
from gateway.schema.cxg.v1.profile_pb2 import Relay
from gateway.trust import Partner, PartnerRegistry

ON_BEHALF_OF_TYP = "cxg-on-behalf-of+jwt"
ON_BEHALF_OF_HEADER = "Cxg-On-Behalf-Of"  # the requests' on_behalf_of field over REST
MAX_ON_BEHALF_OF_SECONDS = 300
_RELAY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class OnBehalfOf:
    """Checks the on-behalf-of claim of a relayed request: required of gateways, refused from
    anyone else."""

    def __init__(
        self, partners: PartnerRegistry, gateway_id: str, clock: Callable[[], datetime]
    ) -> None:
        self._partners, self._gateway_id, self._clock = partners, gateway_id, clock

    def check(self, token: str, caller: Partner, **expected: str) -> Relay | None:
        """The relay a request is part of (None when the caller asks for itself). ``expected``
        are the claims the request fixes: a lookup's ``purpose``, or the ``op`` asked."""
        gateway = "gateway" in caller.roles
        if not token:
            if gateway:
                raise InvalidArgument(
                    "a gateway relays for one of its partners: on_behalf_of is required",
                    field="on_behalf_of",
                )
            return None
        if not gateway:
            raise InvalidArgument(
                "on_behalf_of is sent by a gateway relaying for a partner", field="on_behalf_of"
            )
        verified = self._partners.verify(token, typ=ON_BEHALF_OF_TYP, field="on_behalf_of")
        if verified.partner.id != caller.id:
            raise PermissionDenied(
                f"on_behalf_of is signed by {verified.partner.id!r}, not the caller",
                field="on_behalf_of",
            )
        try:
            claims = read_json_object(verified.payload)
        except JsonError as exc:
            raise InvalidArgument(f"claims: {exc}", field="on_behalf_of") from exc
        now = int(self._clock().timestamp())
        for name, value in {"iss": caller.id, "aud": self._gateway_id, **expected}.items():
            if claims.get(name) != value:
                raise PermissionDenied(f"{name} must be {value!r}", field=f"on_behalf_of.{name}")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not (isinstance(iat, int) and isinstance(exp, int) and iat - 60 <= now < exp):
            raise Unauthenticated(
                "iat and exp must be integers, now between them", field="on_behalf_of.exp"
            )
        if exp - iat > MAX_ON_BEHALF_OF_SECONDS:
            raise Unauthenticated(
                f"valid at most {MAX_ON_BEHALF_OF_SECONDS} s", field="on_behalf_of.exp"
            )
        sub, jti = claims.get("sub"), claims.get("jti")
        if not (isinstance(sub, str) and _RELAY_ID.fullmatch(sub)):
            raise InvalidArgument("sub must be a partner id", field="on_behalf_of.sub")
        if not (isinstance(jti, str) and _RELAY_ID.fullmatch(jti)):
            raise InvalidArgument("jti must be 1-64 letters, digits, '-'", field="on_behalf_of.jti")
        return Relay(relay_id=jti, gateway=caller.id, on_behalf_of=sub)


def relay_subjects(relay: Relay) -> tuple[str, ...]:
    """What an audit leaf names of a relay: at the answering gateway, the relaying gateway and
    the partner it asked for; at the relaying gateway, the peer and the peer's leaf; the relay's
    id at both (how the two logs are reconciled)."""
    if relay.gateway:
        return (
            f"on-behalf-of/{relay.gateway}/{relay.on_behalf_of}",
            f"relays/{relay.gateway}/{relay.relay_id}",
        )
    if relay.peer:
        leaf = str(relay.peer_audit_leaf) if relay.HasField("peer_audit_leaf") else "none"
        return (f"peers/{relay.peer}/leaves/{leaf}", f"peers/{relay.peer}/relays/{relay.relay_id}")
    return ()
