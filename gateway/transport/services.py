"""The use cases a transport serves, built once per gateway process and shared by both."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.service import ProfileExchange
from gateway.service.access import Gatekeeper
from gateway.service.admin import AdminApi
from gateway.service.audit import AuditLog
from gateway.service.consents import ConsentService
from gateway.service.corrections import CorrectionService
from gateway.service.events import EventService
from gateway.service.federation import Federation
from gateway.service.offload import Offload
from gateway.service.readiness import Readiness
from gateway.service.refusals import RefusalLog
from gateway.service.reports import ReportService
from gateway.service.rules import RuleService
from gateway.service.sco import ScoService
from gateway.service.tokens import TokenService
from gateway.storage import Database


@dataclass(frozen=True)
class Services:
    exchange: ProfileExchange
    consents: ConsentService
    rules: RuleService
    sco: ScoService
    admin: AdminApi
    refusals: RefusalLog
    tokens: TokenService
    gate: Gatekeeper
    audit: AuditLog
    offload: Offload  # every call that may wait for the database runs through it
    db: Database  # for the health check only
    readiness: Readiness  # /readyz and gRPC health
    events: EventService
    corrections: CorrectionService
    federation: Federation
    reports: ReportService
