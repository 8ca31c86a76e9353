"""The partner client: one gateway, one partner, REST or gRPC.

It buys sender-constrained access tokens with the partner's key (``private_key_jwt``, RFC 7523)
and renews them before they expire; binds them to a DPoP key (RFC 9449, answering a server's
``use_dpop_nonce`` once with the nonce it names) or to the TLS client certificate (RFC 8705);
calls every operation over either transport; verifies every signed answer against the gateway's
JWKS; and retries what is safe to retry."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit

import grpc
import httpx
from google.protobuf import json_format
from google.protobuf.message import Message

from cxg_client._errors import (
    ApiError,
    CxgError,
    QuotaExceeded,
    TransportError,
    Unauthenticated,
    Unavailable,
    VerificationError,
    from_problem,
    from_rpc_error,
)
from cxg_client._jwks import JwksCache, Verified
from cxg_client._keys import DpopKey, PartnerKey
from cxg_client._operations import OPERATIONS, Operation
from cxg_client._retry import RetryPolicy
from cxg_client._schema.cxg.v1 import profile_service_pb2 as pb

T = TypeVar("T")
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_FORM = "application/x-www-form-urlencoded"
_IMPORT_CHUNK = 256 * 1024
# A token is renewed this long before it expires, so that no call carries one that lapses.
_RENEW_SECONDS = 30.0


@dataclass(frozen=True)
class Mtls:
    """Mutual TLS: the partner's client certificate and key (PEM files) and the CA that issued
    the gateway's certificate."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def from_dir(cls, tls_dir: str | Path, partner_id: str) -> Mtls:
        """The layout ``cxg pki init`` / ``cxg pki issue-partner`` write."""
        tls = Path(tls_dir)
        return cls(
            tls / "partners" / f"{partner_id}.pem",
            tls / "partners" / f"{partner_id}-key.pem",
            tls / "ca.pem",
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        return context

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes(),
            certificate_chain=self.cert.read_bytes(),
        )


@dataclass(frozen=True)
class AccessToken:
    value: str
    token_type: str  # "DPoP" or "Bearer" (certificate-bound)
    expires_at: float  # time.time() seconds

    @property
    def authorization(self) -> str:
        return f"{self.token_type} {self.value}"


@dataclass(frozen=True)
class VerifiedProfile:
    """A profile as the gateway signed it: the JWS, its verified header, and the profile (proto3
    JSON) decoded from the verified payload."""

    jws: str
    header: dict[str, Any]
    payload: bytes
    profile: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    """The gateway's signed receipt of a publication (verified)."""

    profile_name: str
    version: int
    payload_sha256: str
    request_sha256: str
    publisher: str
    receipt_jws: str
    fields: dict[str, Any]


class Client:
    """Calls one gateway as one partner. ``transport`` decides how operations travel;
    the token endpoint and the JWKS are always REST (``rest_url``)."""

    def __init__(
        self,
        key: PartnerKey,
        *,
        gateway_id: str,
        rest_url: str,
        grpc_target: str | None = None,
        transport: Literal["rest", "grpc"] = "rest",
        dpop_key: DpopKey | None = None,
        mtls: Mtls | None = None,
        use_dpop: bool | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        jwks_ttl_seconds: float = 300.0,
        jwks_min_refetch_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        http_client: httpx.Client | None = None,
    ) -> None:
        """``http_client`` replaces the REST client (e.g. one with an ``httpx.MockTransport``);
        ``sleep`` is what waits between retries."""
        if transport == "grpc" and not grpc_target:
            raise ValueError("transport 'grpc' needs a grpc_target (host:port)")
        self.key = key
        self.gateway_id = gateway_id
        self.rest_url = rest_url.rstrip("/")
        self.grpc_target = grpc_target
        self.transport = transport
        self.mtls = mtls
        # Without a client certificate a token can only be bound to a DPoP key.
        dpop = use_dpop if use_dpop is not None else (mtls is None or dpop_key is not None)
        if not dpop and mtls is None:
            raise ValueError("a token must be sender-constrained: use DPoP or mutual TLS")
        self.dpop_key = (dpop_key or DpopKey()) if dpop else None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        verify: ssl.SSLContext | bool = mtls.ssl_context() if mtls else True
        self._http = http_client or httpx.Client(timeout=timeout, verify=verify)
        self._channel: grpc.Channel | None = None
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._nonces: dict[str, str] = {}  # server (origin or gRPC target) -> its DPoP nonce
        self.jwks = JwksCache(
            self._fetch_jwks,
            issuer=gateway_id,
            ttl_seconds=jwks_ttl_seconds,
            min_refetch_seconds=jwks_min_refetch_seconds,
        )

    def close(self) -> None:
        self._http.close()
        if self._channel is not None:
            self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- profiles ---------------------------------------------------------------------------------

    def get_profile(
        self,
        name: str | None = None,
        *,
        scheme: str | None = None,
        value: str | None = None,
        purpose: str,
        consent: str = "",
        version: int = 0,
        format: str = "",
    ) -> VerifiedProfile:
        """A profile by resource name (``profiles/ID``) or by any identifier of its subject,
        verified against the gateway's JWKS."""
        if (name is None) == (scheme is None or value is None):
            raise ValueError("give either a resource name or a scheme and value")
        request: dict[str, Any] = {"purpose": purpose, "consent": consent, "version": version}
        request |= {"format": format} if format else {}
        request |= {"name": name} if name else {"id": {"scheme": scheme, "value": value}}
        answer = self._call(OPERATIONS["GetProfile"], request)
        assert isinstance(answer, pb.SignedProfile)
        verified = self.jwks.verify(answer.jws, typ="cxg-profile+jws")
        if "format" not in verified.header:
            _check_profile(verified, answer)
        return VerifiedProfile(
            answer.jws,
            verified.header,
            verified.payload,
            json_format.MessageToDict(answer.profile),
        )

    def sign_publication(self, profile: dict[str, Any] | bytes, **headers: Any) -> str:
        """The JWS to publish: ``profile`` (proto3 JSON bytes, signed exactly as given, or a
        dict serialized once here) signed with the partner's key."""
        payload = (
            profile
            if isinstance(profile, bytes)
            else json.dumps(profile, ensure_ascii=False).encode()
        )
        return self.key.sign_publication(payload, **headers)

    def publish_profile(self, profile: dict[str, Any] | bytes, *, format: str = "") -> Receipt:
        """Sign and publish a profile version; retried safely (the same JWS again answers the
        same receipt)."""
        return self.publish_jws(self.sign_publication(profile), format=format)

    def publish_jws(self, jws: str, *, format: str = "") -> Receipt:
        request = {"jws": jws} | ({"format": format} if format else {})
        answer = self._call(OPERATIONS["PublishProfile"], request)
        assert isinstance(answer, pb.PublishReceipt)
        return Receipt(
            answer.profile_name,
            answer.version,
            answer.payload_sha256,
            answer.request_sha256,
            answer.publisher,
            answer.receipt_jws,
            json_format.MessageToDict(answer),
        )

    def list_profile_versions(
        self, name: str, *, page_size: int = 0, page_token: str = ""
    ) -> dict[str, Any]:
        request = {"name": name, "page_size": page_size, "page_token": page_token}
        return self.call("ListProfileVersions", request)

    def search_profiles(
        self, *, name_prefix: str = "", country: str = "", page_size: int = 0, page_token: str = ""
    ) -> dict[str, Any]:
        return self.call(
            "SearchProfiles",
            {
                "name_prefix": name_prefix,
                "country": country,
                "page_size": page_size,
                "page_token": page_token,
            },
        )

    def import_profiles(self, data: bytes | IO[bytes], *, format: str) -> dict[str, Any]:
        """Publish every record of a bulk file in a partner format (not retried: a file is
        streamed once; importing it again reports its records as unchanged)."""
        body = data if isinstance(data, bytes) else data.read()
        op = OPERATIONS["ImportProfiles"]
        if self.transport == "grpc":

            def chunks() -> Iterator[Message]:
                for start in range(0, max(len(body), 1), _IMPORT_CHUNK):
                    chunk = body[start : start + _IMPORT_CHUNK]
                    yield pb.ImportChunk(format=format if start == 0 else "", data=chunk)

            answer = self._grpc_once(op, chunks, streaming=True)
        else:
            response = self._rest_once(
                "POST",
                f"{self.rest_url}{op.path}",
                query={"format": format},
                content=body,
                content_type="application/x-ndjson",
            )
            answer = json_format.ParseDict(
                response.json(), pb.ImportSummary(), ignore_unknown_fields=True
            )
        return json_format.MessageToDict(answer)

    # -- any operation ----------------------------------------------------------------------------

    def call(
        self, operation: str, request: dict[str, Any] | Message | None = None
    ) -> dict[str, Any]:
        """Any operation of the gateway (``OPERATIONS``), with its request as proto3 JSON (either
        field-name form) or a message; the answer as proto3 JSON, its signed parts verified."""
        if operation not in OPERATIONS or operation == "ImportProfiles":
            raise ValueError(f"no such unary operation: {operation!r}")
        if operation == "GetProfile":
            raise ValueError("use get_profile(): it verifies what it returns")
        return json_format.MessageToDict(self._call(OPERATIONS[operation], request or {}))

    def _call(self, op: Operation, request: dict[str, Any] | Message) -> Message:
        message = (
            request
            if isinstance(request, Message)
            else json_format.ParseDict(request, op.request_type()())
        )
        if self.transport == "grpc":
            answer = self._retrying(op.idempotent, lambda: self._grpc_once(op, message))
        else:
            answer = self._retrying(op.idempotent, lambda: self._rest_call(op, message))
        for field, typ in op.signed:
            jws = getattr(answer, field)
            if jws:
                verified = self.jwks.verify(jws, typ=typ)
                if field == "receipt_jws":
                    _check_receipt(verified, answer)
        return answer

    # -- credentials ------------------------------------------------------------------------------

    def access_token(self) -> AccessToken:
        """A sender-constrained access token, renewed shortly before it expires."""
        with self._lock:
            token = self._token
            if token is None or time.time() > token.expires_at - _RENEW_SECONDS:
                token = self._token = self._retrying(True, self._fetch_token)
            return token

    def dpop_proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        """A DPoP proof for one request to ``url`` (a REST URL, or
        ``https://{gateway_id}/{service}/{method}`` for gRPC), bound to ``access_token``."""
        if self.dpop_key is None:
            raise CxgError("this client's tokens are bound to its certificate, not to a DPoP key")
        origin = _server_of(url)
        return self.dpop_key.proof(
            method, url, access_token=access_token, nonce=self._nonces.get(origin)
        )

    def grpc_url(self, operation: str) -> str:
        """What a DPoP proof for a gRPC call names in ``htu``."""
        return f"https://{self.gateway_id}{OPERATIONS[operation].grpc_method}"

    def _fetch_token(self) -> AccessToken:
        url = f"{self.rest_url}/oauth2/token"
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": _ASSERTION_TYPE,
                "client_assertion": self.key.client_assertion(self.gateway_id),
            }
        ).encode()
        response = self._rest_once("POST", url, content=form, content_type=_FORM, auth=False)
        body = response.json()
        return AccessToken(
            body["access_token"], body["token_type"], time.time() + float(body["expires_in"])
        )

    def _drop_token(self, token: AccessToken) -> bool:
        with self._lock:
            if self._token is token:
                self._token = None
                return True
            return False

    def _fetch_jwks(self) -> dict[str, Any]:
        response = self._retrying(
            True,
            lambda: self._rest_once("GET", f"{self.rest_url}/.well-known/jwks.json", auth=False),
        )
        jwks: dict[str, Any] = response.json()
        return jwks

    # -- REST -------------------------------------------------------------------------------------

    def _rest_call(self, op: Operation, message: Message) -> Message:
        if op.name == "GetProfile" and isinstance(message, pb.GetProfileRequest):
            path, query, body = _profile_route(message)
        else:
            path, query, body = op.rest_request(message)
        content = None if body is None else json.dumps(body).encode()
        response = self._rest_once(
            op.http_method,
            f"{self.rest_url}{path}",
            query=query,
            content=content,
            content_type="application/json" if content is not None else None,
        )
        return json_format.ParseDict(
            response.json(), op.response_type()(), ignore_unknown_fields=True
        )

    def _rest_once(
        self,
        method: str,
        url: str,
        *,
        query: dict[str, str] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        """One request, answering at most one ``use_dpop_nonce`` and, for a token refused
        (expired, revoked), buying one new token."""
        origin = _server_of(url)
        nonce_answered = token_renewed = False
        while True:
            # JSON answers only: a route that can also answer a document (a credit report's
            # PDF) answers its JSON message instead.
            headers = {"Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            token = self.access_token() if auth else None
            if token is not None:
                headers["Authorization"] = token.authorization
            if self.dpop_key is not None and (token is None or token.token_type == "DPoP"):
                headers["DPoP"] = self.dpop_key.proof(
                    method,
                    url,
                    access_token=token.value if token else None,
                    nonce=self._nonces.get(origin),
                )
            try:
                response = self._http.request(
                    method, url, params=query or None, content=content, headers=headers
                )
            except httpx.HTTPError as exc:
                raise TransportError(f"cannot reach {url}: {exc}") from exc
            if nonce := response.headers.get("DPoP-Nonce"):
                self._nonces[origin] = nonce
            if response.is_success:
                return response
            error = _rest_error(response)
            if _asks_for_nonce(response, error) and nonce and not nonce_answered:
                nonce_answered = True
                continue
            if (
                isinstance(error, Unauthenticated)
                and token is not None
                and not token_renewed
                and response.status_code == 401
                and self._drop_token(token)
            ):
                token_renewed = True
                continue
            raise error

    # -- gRPC -------------------------------------------------------------------------------------

    def _grpc_channel(self) -> grpc.Channel:
        with self._lock:
            if self._channel is None:
                assert self.grpc_target is not None
                if self.mtls is not None:
                    self._channel = grpc.secure_channel(
                        self.grpc_target, self.mtls.grpc_credentials()
                    )
                else:
                    self._channel = grpc.insecure_channel(self.grpc_target)
            return self._channel

    def _grpc_once(
        self,
        op: Operation,
        request: Message | Callable[[], Iterable[Message]],
        *,
        streaming: bool = False,
    ) -> Message:
        if not self.grpc_target:
            raise ValueError("no grpc_target configured")
        channel = self._grpc_channel()
        response_type = op.response_type()
        if streaming:
            rpc: Any = channel.stream_unary(
                op.grpc_method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_type.FromString,
            )
        else:
            rpc = channel.unary_unary(
                op.grpc_method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_type.FromString,
            )
        server = self.grpc_target
        url = f"https://{self.gateway_id}{op.grpc_method}"
        nonce_answered = token_renewed = False
        while True:
            token = self.access_token()
            metadata = [("authorization", token.authorization)]
            if self.dpop_key is not None and token.token_type == "DPoP":
                proof = self.dpop_key.proof(
                    "POST", url, access_token=token.value, nonce=self._nonces.get(server)
                )
                metadata.append(("dpop", proof))
            sent = request() if callable(request) else request
            try:
                answer: Message = rpc(sent, timeout=self.timeout, metadata=metadata)
                return answer
            except grpc.RpcError as exc:
                nonce = _metadata_value(exc, "dpop-nonce")
                if nonce:
                    self._nonces[server] = nonce
                code = exc.code() if hasattr(exc, "code") else None
                if code in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ) and not (_metadata_value(exc, "grpc-status-details-bin")):
                    raise TransportError(f"{code.name}: {exc.details()}") from exc
                error = from_rpc_error(exc)
                if isinstance(error, Unauthenticated) and nonce and not nonce_answered:
                    nonce_answered = True
                    continue
                if (
                    isinstance(error, Unauthenticated)
                    and not token_renewed
                    and self._drop_token(token)
                ):
                    token_renewed = True
                    continue
                raise error from exc

    # -- retries ----------------------------------------------------------------------------------

    def _retrying(self, idempotent: bool, attempt: Callable[[], T]) -> T:
        """``attempt()``, again after a backoff while it fails in a way worth retrying: a quota
        (nothing was done), and, for idempotent calls, an unavailable gateway or database or a
        failed connection."""
        retry = 0
        while True:
            try:
                return attempt()
            except (ApiError, TransportError) as exc:
                retryable = isinstance(exc, QuotaExceeded) or (
                    idempotent and isinstance(exc, Unavailable | TransportError)
                )
                if not retryable or retry + 1 >= self.retry.attempts:
                    raise
                self._sleep(self.retry.delay(retry, getattr(exc, "retry_after", None)))
                retry += 1


def _profile_route(request: pb.GetProfileRequest) -> tuple[str, dict[str, str], None]:
    query = {
        k: str(v)
        for k, v in (
            ("version", request.version),
            ("purpose", request.purpose),
            ("consent", request.consent),
            ("format", request.format),
        )
        if v
    }
    if request.WhichOneof("target") == "id":
        return (
            "/v1/profiles:lookup",
            {"scheme": request.id.scheme, "value": request.id.value} | query,
            None,
        )
    if not request.name.startswith("profiles/"):
        raise ValueError("a profile's name is profiles/{profile_id}")
    return f"/v1/{request.name}", query, None


def _server_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _rest_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return from_problem(response.status_code, body, _retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: rare here, and a backoff covers it
        return None


def _asks_for_nonce(response: httpx.Response, error: ApiError) -> bool:
    """RFC 9449 8 and 9: the token endpoint answers 400 ``use_dpop_nonce``, a resource server
    401 with ``error="use_dpop_nonce"`` in its DPoP challenge."""
    if error.details.get("error") == "use_dpop_nonce":
        return True
    challenge = response.headers.get("WWW-Authenticate", "")
    return response.status_code == 401 and "use_dpop_nonce" in challenge


def _metadata_value(exc: grpc.RpcError, key: str) -> str | None:
    for source in ("trailing_metadata", "initial_metadata"):
        read = getattr(exc, source, None)
        for k, v in (read() if callable(read) else None) or ():
            if k == key:
                return v if isinstance(v, str) else v.decode("latin-1")
    return None


def _check_profile(verified: Verified, answer: pb.SignedProfile) -> None:
    """The decoded profile must be what was signed: a caller that reads ``profile`` reads the
    verified bytes."""
    signed = json_format.Parse(verified.payload, type(answer.profile)(), ignore_unknown_fields=True)
    if signed != answer.profile:
        raise VerificationError("the profile sent differs from the profile signed")


def _check_receipt(verified: Verified, answer: Message) -> None:
    sent = type(answer)()
    sent.CopyFrom(answer)
    sent.ClearField("receipt_jws")
    signed = json_format.Parse(verified.payload, type(answer)(), ignore_unknown_fields=True)
    if signed != sent:
        raise VerificationError("the receipt sent differs from the receipt signed")
