"""What a served view of a profile version shows once disputes and repairs are counted.

A repaired record is withheld from every partner's view of every version (its own state says
REPAIRED, or a repair was recorded for it since); an open dispute adds a ``DisputeMark`` naming
the disputed fields as JSON pointers (RFC 6901) into that view. Both are part of the payload the
gateway signs, so neither can be stripped or forged.

Views differ in which public records they keep, so a record's index is not the same in every
view: a disputed field inside a record is stored with the record's key in place of its index
(``/publicRecords/@[kind,"number","date"]/summary``) and given the index it has in each view.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.errors import InvalidArgument
from gateway.profiles import canonical_json
from gateway.schema.cxg.v1.profile_pb2 import (
    CreditProfile,
    DisputeState,
    PublicRecord,
    RepairState,
)
from gateway.storage.corrections import NO_OVERLAY, Overlay, RecordKey
from gateway.trust.policy import minimize

_RECORDS = "publicRecords"
MAX_POINTER = 256


def record_key(record: PublicRecord) -> RecordKey:
    return record.kind, record.decision_number, record.decision_date


def withheld(record: PublicRecord, repaired: frozenset[RecordKey]) -> bool:
    return (
        record.repair_state == RepairState.REPAIR_STATE_REPAIRED or record_key(record) in repaired
    )


def served(full: CreditProfile, view: str, overlay: Overlay = NO_OVERLAY) -> CreditProfile:
    """The version as ``view`` shows it to partners: ``full`` itself when nothing changes."""
    base = without_repaired(full, overlay.repaired)
    shown = minimize(base, view)
    if overlay.disputes:
        if shown is full:
            shown = CreditProfile()
            shown.CopyFrom(full)
        _mark(shown, overlay)
    return shown


def without_repaired(full: CreditProfile, repaired: frozenset[RecordKey]) -> CreditProfile:
    kept = [r for r in full.public_records if not withheld(r, repaired)]
    if len(kept) == len(full.public_records):
        return full
    base = CreditProfile()
    base.CopyFrom(full)
    del base.public_records[:]
    base.public_records.extend(kept)
    return base


def stored_pointer(pointer: str, shown: CreditProfile, document: Any, field: str) -> str:
    """A pointer a filer gave into the view it received (``shown``, as JSON ``document``),
    checked, with a record's index replaced by its key."""
    if len(pointer) > MAX_POINTER or not pointer.startswith("/"):
        raise InvalidArgument(
            f"a field is a JSON pointer (RFC 6901) of at most {MAX_POINTER} characters,"
            " e.g. /subject/legalName/zh",
            field=field,
        )
    tokens = _tokens(pointer)
    if _resolve(document, tokens) is None:
        raise InvalidArgument(f"the version as you received it has no field {pointer}", field=field)
    if tokens[0] == _RECORDS and len(tokens) > 1:
        key = record_key(shown.public_records[int(tokens[1])])
        tokens[1] = "@" + json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))
    return _pointer(tokens)


def _mark(shown: CreditProfile, overlay: Overlay) -> None:
    document = json.loads(canonical_json(shown))
    index_of = {record_key(r): i for i, r in enumerate(shown.public_records)}
    for dispute in overlay.disputes:
        fields = []
        for stored in dispute.fields:
            tokens = _tokens(stored)
            if tokens[0] == _RECORDS and len(tokens) > 1:
                index = index_of.get(_key(tokens[1]))
                if index is None:  # the record is not in this view
                    continue
                tokens[1] = str(index)
                shown.public_records[index].dispute_state = DisputeState.DISPUTE_STATE_DISPUTED
            if _resolve(document, tokens) is not None:
                fields.append(_pointer(tokens))
        shown.disputes.add(
            dispute=f"disputes/{dispute.id}",
            fields=fields,
            filed_date=dispute.filed_at.date().isoformat(),
            due_date=dispute.due_date,
        )


def _key(token: str) -> RecordKey:
    kind, number, decided = json.loads(token[1:])
    return int(kind), str(number), str(decided)


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _pointer(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _resolve(document: Any, tokens: list[str]) -> Any:
    """The value at ``tokens`` in ``document``, or None when there is none."""
    node = document
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and (token == "0" or token[0] != "0"):
            if int(token) >= len(node):
                return None
            node = node[int(token)]
        else:
            return None
    return node
