"""SCO codes issued by this gateway: each with its place in the status list and its state."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from gateway.storage.audit import ChangeLog
from gateway.storage.corrections import OPEN
from gateway.storage.database import Database
from gateway.storage.events import SCO_STATUS_CHANGED, OutboxEvent, emit
from gateway.storage.tables import disputes, sco_codes

_ATTEMPTS = 4


@dataclass(frozen=True)
class StoredCode:
    code_id: str
    status_index: int
    profile_id: str
    issued_by: str
    state: str
    issued_at: datetime
    expires_at: datetime
    changed_at: datetime
    text: str


class ScoCodeStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)

    def issue(
        self,
        code_id: str,
        profile_id: str,
        issued_by: str,
        issued_at: datetime,
        expires_at: datetime,
        sign: Callable[[int], str],
    ) -> StoredCode:
        """Store a new code at the next status-list index; ``sign`` makes its text once the
        index (one of its claims) is known. Concurrent issuers take turns for the index."""
        for attempt in range(_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    if not self._db.is_sqlite:
                        conn.execute(text("LOCK TABLE sco_codes IN SHARE ROW EXCLUSIVE MODE"))
                    last = conn.execute(select(func.max(sco_codes.c.status_index))).scalar()
                    row = StoredCode(
                        code_id=code_id,
                        status_index=0 if last is None else last + 1,
                        profile_id=profile_id,
                        issued_by=issued_by,
                        state="valid",
                        issued_at=issued_at,
                        expires_at=expires_at,
                        changed_at=issued_at,
                        text="",
                    )
                    row = replace(row, text=sign(row.status_index))
                    conn.execute(insert(sco_codes).values(**asdict(row)))
                    self._changes.record(
                        conn,
                        "sco.issue",
                        [f"scoCodes/{code_id}", f"profiles/{profile_id}"],
                        {
                            "status_index": row.status_index,
                            "expires_at": expires_at.isoformat(),
                            "issued_by": issued_by,
                        },
                    )
                    return row
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, code_id: str) -> StoredCode | None:
        rows = self._db.read(select(sco_codes).where(sco_codes.c.code_id == code_id))
        return StoredCode(**rows[0]._mapping) if rows else None

    def set_state(
        self, code_id: str, state: str, at: datetime, sources: Collection[str]
    ) -> tuple[StoredCode, bool] | None:
        """Change the code's state to ``state`` if it is one of ``sources`` now, and record the
        change's audit leaf in the same transaction. The check is a compare-and-set in the
        UPDATE itself, so of two concurrent changes each passes only if still allowed after the
        other. The code and whether it changed (when not, nothing is written and the code
        returned shows the state that refused it); None if there is no such code."""
        with self._db.write() as conn:
            before = conn.execute(
                select(sco_codes.c.state, sco_codes.c.profile_id)
                .where(sco_codes.c.code_id == code_id)
                .with_for_update()
            ).first()
            changed = conn.execute(
                update(sco_codes)
                .where(sco_codes.c.code_id == code_id, sco_codes.c.state.in_(list(sources)))
                .values(state=state, changed_at=at)
            ).rowcount
            if changed and before is not None:
                self._changes.record(conn, "sco.status", [f"scoCodes/{code_id}"], {"state": state})
                detail = {"code": f"scoCodes/{code_id}", "previous": before.state, "current": state}
                # The code's event, committed with the change (storage/events.py).
                emit(conn, [OutboxEvent(0, SCO_STATUS_CHANGED, before.profile_id, 0, detail, at)])
            rows = conn.execute(select(sco_codes).where(sco_codes.c.code_id == code_id)).all()
        return (StoredCode(**rows[0]._mapping), bool(changed)) if rows else None

    def states(self) -> tuple[int, dict[int, str]]:
        """The number of indexes given so far (the highest one + 1: every code issued is inside a
        list of this size), and the state of every code not valid."""
        last = self._db.read(select(func.max(sco_codes.c.status_index)))[0][0]
        rows = self._db.read(
            select(sco_codes.c.status_index, sco_codes.c.state).where(sco_codes.c.state != "valid")
        )
        return (0 if last is None else int(last) + 1), {row.status_index: row.state for row in rows}

    def disputed_codes(self) -> frozenset[str]:
        """The codes of companies with a dispute open (gateway/storage/corrections.py)."""
        open_disputes = select(disputes.c.profile_id).where(disputes.c.state == OPEN)
        rows = self._db.read(
            select(sco_codes.c.code_id).where(sco_codes.c.profile_id.in_(open_disputes))
        )
        return frozenset(row.code_id for row in rows)
