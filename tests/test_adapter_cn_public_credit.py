"""The China public credit adapter (adapters/cn_public_credit): 双公示 licences and penalties and
dishonesty-list entries, one JSON record per company, mapped to canonical public records."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.cn_public_credit import adapter
from gateway.mapping import AdapterError
from gateway.profiles import CreditProfile
from gateway.schema.cxg.v1.profile_pb2 import (
    AuthorityType,
    DisputeState,
    PublicRecordKind,
    RepairState,
)

FOLDER = Path(__file__).resolve().parent.parent / "adapters" / "cn_public_credit"
SAMPLES = FOLDER / "samples"
SINGLE = sorted(SAMPLES.glob("*.json"))

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_check(body17: str) -> str:
    """GB 32100-2015 check character, written from DOMAIN.md (not the project's code)."""
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def encoded(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def refused(data: bytes) -> AdapterError:
    with pytest.raises(AdapterError) as caught:
        adapter.decode(data)
    return caught.value


# (1) samples -----------------------------------------------------------------------------------


def test_there_are_single_company_samples_and_a_bulk_file() -> None:
    assert len(SINGLE) >= 3
    assert (SAMPLES / "bulk.ndjson").is_file()


def test_sample_uscc_check_characters_are_valid() -> None:
    for path in SINGLE:
        code = json.loads(path.read_text(encoding="utf-8"))["统一社会信用代码"]
        assert code[2:8].startswith("3702"), f"{path.name}: not a Qingdao division code"
        assert uscc_check(code[:17]) == code[17], path.name


def test_haiyun_sample_decodes_to_expected_values() -> None:
    profile = adapter.decode((SAMPLES / "haiyun_logistics.json").read_bytes())
    assert [(i.scheme, i.value) for i in profile.subject.ids] == [("CN_USCC", "91370211MA3C8QK21X")]
    assert profile.subject.legal_name.zh == "青岛海韵国际物流有限公司"
    assert profile.subject.country == "CN"
    assert [PublicRecordKind.Name(r.kind) for r in profile.public_records] == [
        "PUBLIC_RECORD_KIND_LICENCE",
        "PUBLIC_RECORD_KIND_PENALTY",
    ]
    licence, penalty = profile.public_records
    assert licence.decision_number == "青黄审批交许〔2022〕0318号"
    assert licence.decision_date == "2022-06-14"
    assert licence.authority.zh == "青岛西海岸新区行政审批服务局"
    assert licence.summary.zh == "道路运输经营许可（道路普通货物运输）"
    assert licence.disclosure_until_date == "2026-06-13"
    assert AuthorityType.Name(licence.authority_type) == "AUTHORITY_TYPE_OTHER"
    assert penalty.decision_number == "黄关缉违字〔2024〕0057号"
    assert penalty.decision_date == "2024-03-21"
    assert penalty.authority.zh == "中华人民共和国黄岛海关"
    assert AuthorityType.Name(penalty.authority_type) == "AUTHORITY_TYPE_CUSTOMS"
    assert DisputeState.Name(penalty.dispute_state) == "DISPUTE_STATE_NONE"  # 无
    assert RepairState.Name(penalty.repair_state) == "REPAIR_STATE_REPAIRED"  # 已修复
    assert penalty.disclosure_until_date == "2025-03-20"


def test_laoshan_sample_maps_dispute_and_repair_codes() -> None:
    profile = adapter.decode((SAMPLES / "laoshan_tea.json").read_bytes())
    document = json_format.MessageToDict(profile)
    assert document["subject"]["ids"] == [{"scheme": "CN_USCC", "value": "91370212MA94R7TD42"}]
    records = document["publicRecords"]
    assert [r["kind"] for r in records] == [
        "PUBLIC_RECORD_KIND_LICENCE",
        "PUBLIC_RECORD_KIND_PENALTY",
        "PUBLIC_RECORD_KIND_PENALTY",
    ]
    assert "disclosureUntilDate" not in records[0]
    assert records[1]["disputeState"] == "DISPUTE_STATE_REJECTED"  # 异议驳回
    assert records[1]["repairState"] == "REPAIR_STATE_REQUESTED"  # 申请修复
    assert records[1]["authorityType"] == "AUTHORITY_TYPE_MARKET_REGULATION"
    assert records[2]["authorityType"] == "AUTHORITY_TYPE_TAX"
    assert records[2]["decisionDate"] == "2025-02-18"
    assert records[2]["summary"] == {"zh": "未按规定期限办理纳税申报，罚款人民币200元"}


def test_jiaozhou_sample_carries_a_dishonesty_entry() -> None:
    profile = adapter.decode((SAMPLES / "jiaozhou_machinery.json").read_bytes())
    document = json_format.MessageToDict(profile)
    penalty, entry = document["publicRecords"][1:]
    assert penalty["disputeState"] == "DISPUTE_STATE_DISPUTED"  # 异议中
    assert entry == {
        "kind": "PUBLIC_RECORD_KIND_DISHONESTY_LIST",
        "authority": {"zh": "山东省胶州市人民法院"},
        "decisionNumber": "（2024）鲁0281执2217号",
        "decisionDate": "2024-08-13",
        "summary": {"zh": "有履行能力而拒不履行生效法律文书确定的给付义务"},
        "authorityType": "AUTHORITY_TYPE_COURT",
    }


@pytest.mark.parametrize("path", SINGLE, ids=lambda p: p.name)
def test_sample_round_trips(path: Path) -> None:
    profile = adapter.decode(path.read_bytes())
    assert adapter.decode(adapter.encode(profile)) == profile


def test_encode_writes_partner_codes_and_dates() -> None:
    profile = adapter.decode((SAMPLES / "laoshan_tea.json").read_bytes())
    written = json.loads(adapter.encode(profile))
    assert written["统一社会信用代码"] == "91370212MA94R7TD42"
    assert written["行政处罚"][0]["异议状态"] == "异议驳回"
    assert written["行政处罚"][0]["信用修复状态"] == "申请修复"
    assert written["行政处罚"][0]["机关类别"] == "市场监管"
    assert written["行政处罚"][0]["处罚决定日期"] == "2024-09-05"
    assert "失信名单" not in written


def test_encode_refuses_a_foreign_country() -> None:
    profile = adapter.decode((SAMPLES / "laoshan_tea.json").read_bytes())
    profile.subject.country = "RU"
    with pytest.raises(AdapterError) as caught:
        adapter.encode(profile)
    assert caught.value.rule == "constant"


# (2) JSON Schema ---------------------------------------------------------------------------------


def _schema_errors(instance: Any) -> list[str]:
    schema = json.loads((FOLDER / "schema.json").read_text(encoding="utf-8"))
    try:
        import jsonschema
    except ImportError:
        jsonschema_rs = pytest.importorskip("jsonschema_rs")
        return [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(instance)]
    validator = jsonschema.Draft202012Validator(schema)
    return [str(e) for e in validator.iter_errors(instance)]


@pytest.mark.parametrize("path", SINGLE, ids=lambda p: p.name)
def test_sample_validates_against_schema(path: Path) -> None:
    assert _schema_errors(json.loads(path.read_text(encoding="utf-8"))) == []


def test_bulk_lines_validate_against_schema() -> None:
    for line in (SAMPLES / "bulk.ndjson").read_text(encoding="utf-8").splitlines():
        assert _schema_errors(json.loads(line)) == []


def test_schema_refuses_an_unknown_dispute_code() -> None:
    record = sample("laoshan_tea.json")
    record["行政处罚"][0]["异议状态"] = "已撤销"
    assert _schema_errors(record) != []


def test_encoded_profile_validates_against_schema() -> None:
    profile = adapter.decode((SAMPLES / "jiaozhou_machinery.json").read_bytes())
    assert _schema_errors(json.loads(adapter.encode(profile))) == []


# (3) property: decode(encode(p)) == p ------------------------------------------------------------

_TEXT = st.text(
    alphabet="青岛市场监督管理局海关税务许可处罚罚款人民币万元号〔〕（）0123456789有限公司执行",
    min_size=1,
    max_size=24,
)
_DATES = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)).map(date.isoformat)


@st.composite
def _usccs(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from("123456789ANY"))
    entity_type = draw(st.sampled_from(USCC_ALPHABET))
    division = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    org = draw(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9))
    body = authority + entity_type + division + org
    return body + uscc_check(body)


@st.composite
def _records(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": kind, "decisionDate": draw(_DATES)}
    optional = {
        "decisionNumber": _TEXT,
        "authority": _TEXT.map(lambda t: {"zh": t}),
        "summary": _TEXT.map(lambda t: {"zh": t}),
        "disclosureUntilDate": _DATES,
        "authorityType": st.sampled_from(
            [
                "AUTHORITY_TYPE_CUSTOMS",
                "AUTHORITY_TYPE_TAX",
                "AUTHORITY_TYPE_MARKET_REGULATION",
                "AUTHORITY_TYPE_COURT",
                "AUTHORITY_TYPE_OTHER",
            ]
        ),
        "disputeState": st.sampled_from(
            [
                "DISPUTE_STATE_NONE",
                "DISPUTE_STATE_DISPUTED",
                "DISPUTE_STATE_CORRECTED",
                "DISPUTE_STATE_REJECTED",
            ]
        ),
        "repairState": st.sampled_from(
            [
                "REPAIR_STATE_NONE",
                "REPAIR_STATE_REQUESTED",
                "REPAIR_STATE_REPAIRED",
                "REPAIR_STATE_REFUSED",
            ]
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            record[key] = draw(strategy)
    return record


@st.composite
def _profiles(draw: st.DrawFn) -> CreditProfile:
    records = []
    # decoding groups records by kind: licences, then penalties, then dishonesty entries
    for kind in (
        "PUBLIC_RECORD_KIND_LICENCE",
        "PUBLIC_RECORD_KIND_PENALTY",
        "PUBLIC_RECORD_KIND_DISHONESTY_LIST",
    ):
        records += draw(st.lists(_records(kind), max_size=3))
    document: dict[str, Any] = {
        "subject": {
            "ids": [{"scheme": "CN_USCC", "value": draw(_usccs())}],
            "legalName": {"zh": draw(_TEXT)},
            "country": "CN",
        }
    }
    if records:
        document["publicRecords"] = records
    return json_format.ParseDict(document, CreditProfile())


@settings(max_examples=50, deadline=None)
@given(_profiles())
def test_round_trip_property(profile: CreditProfile) -> None:
    assert adapter.decode(adapter.encode(profile)) == profile


# (4) bad input --------------------------------------------------------------------------------


def _penalty_record(**changes: Any) -> dict[str, Any]:
    record = sample("laoshan_tea.json")
    record["行政处罚"][0].update(changes)
    return record


def test_invalid_json_is_refused() -> None:
    error = refused('{"统一社会信用代码": "91370212MA94R7TD42",'.encode())
    assert (error.field, error.rule) == ("/", "json")


def test_duplicate_keys_are_refused() -> None:
    data = '{"统一社会信用代码": "91370212MA94R7TD42", "统一社会信用代码": "913702811635684264", "行政相对人名称": "青岛"}'
    error = refused(data.encode())
    assert (error.field, error.rule) == ("/", "json")
    assert "统一社会信用代码" in str(error)


def test_a_number_where_text_belongs_is_refused() -> None:
    record = sample("laoshan_tea.json")
    record["行政相对人名称"] = 12345
    error = refused(encoded(record))
    assert (error.field, error.rule) == ("/行政相对人名称", "type")


def test_a_number_in_a_record_field_is_refused() -> None:
    error = refused(encoded(_penalty_record(处罚决定日期=20240905)))
    assert (error.field, error.rule) == ("/行政处罚/0/处罚决定日期", "type")


def test_an_object_where_text_belongs_is_refused() -> None:
    error = refused(encoded(_penalty_record(处罚机关={"名称": "青岛市崂山区市场监督管理局"})))
    assert (error.field, error.rule) == ("/行政处罚/0/处罚机关", "type")


def test_a_group_that_is_not_an_array_is_refused() -> None:
    record = sample("laoshan_tea.json")
    record["失信名单"] = {"认定日期": "2024-01-01"}
    error = refused(encoded(record))
    assert (error.field, error.rule) == ("/失信名单", "type")


def test_an_oversize_record_is_refused() -> None:
    record = sample("laoshan_tea.json")
    record["行政许可"][0]["许可内容"] = "许" * (1024 * 1024 // 3 + 10)  # 3 UTF-8 bytes each
    data = encoded(record)
    assert len(data) > 1024 * 1024
    error = refused(data)
    assert (error.field, error.rule) == ("", "size")


def test_an_unknown_dispute_code_is_refused() -> None:
    error = refused(encoded(_penalty_record(异议状态="已撤销")))
    assert (error.field, error.rule) == ("/行政处罚/0/异议状态", "code")
    assert error.canonical == "disputeState"


def test_an_unknown_repair_code_is_refused() -> None:
    error = refused(encoded(_penalty_record(信用修复状态="修复中")))
    assert (error.field, error.rule) == ("/行政处罚/0/信用修复状态", "code")


def test_a_bad_date_is_refused() -> None:
    record = sample("laoshan_tea.json")
    record["行政许可"][0]["许可决定日期"] = "2023-02-30"
    error = refused(encoded(record))
    assert (error.field, error.rule) == ("/行政许可/0/许可决定日期", "date")


def test_a_date_in_another_form_is_refused() -> None:
    error = refused(encoded(_penalty_record(公示截止期="2025年9月4日")))
    assert (error.field, error.rule) == ("/行政处罚/0/公示截止期", "date")


def test_a_bad_uscc_check_character_is_refused() -> None:
    record = sample("laoshan_tea.json")
    record["统一社会信用代码"] = "91370212MA94R7TD43"
    error = refused(encoded(record))
    assert (error.field, error.rule) == ("/统一社会信用代码", "check_digit")
    assert error.canonical == "/subject/ids/0/value"


def test_a_missing_uscc_is_refused() -> None:
    record = sample("laoshan_tea.json")
    del record["统一社会信用代码"]
    error = refused(encoded(record))
    assert (error.field, error.rule) == ("/统一社会信用代码", "required")


def test_a_missing_company_name_is_refused() -> None:
    record = sample("laoshan_tea.json")
    record["行政相对人名称"] = "  "
    error = refused(encoded(record))
    assert (error.field, error.rule) == ("/行政相对人名称", "required")


def test_a_missing_decision_date_is_refused() -> None:
    record = sample("jiaozhou_machinery.json")
    del record["失信名单"][0]["认定日期"]
    error = refused(encoded(record))
    assert (error.field, error.rule) == ("/失信名单/0/认定日期", "required")


def test_an_unknown_authority_type_is_refused() -> None:
    error = refused(encoded(_penalty_record(机关类别="公安")))
    assert (error.field, error.rule) == ("/行政处罚/0/机关类别", "code")


# (5) bulk --------------------------------------------------------------------------------------


def test_bulk_file_yields_a_record_per_line() -> None:
    with open(SAMPLES / "bulk.ndjson", "rb") as stream:
        records = list(adapter.read(stream))
    lines = (SAMPLES / "bulk.ndjson").read_bytes().splitlines()
    assert [r.number for r in records] == list(range(1, len(lines) + 1))
    bad = [r for r in records if r.error is not None]
    assert [r.number for r in bad] == [4]
    error = bad[0].error
    assert error is not None
    assert bad[0].profile is None
    assert (error.field, error.rule) == ("line 4: /统一社会信用代码", "check_digit")
    assert bad[0].location == "line 4"
    good = [r for r in records if r.error is None]
    assert all(r.profile is not None for r in good)
    names = [r.profile.subject.legal_name.zh for r in good if r.profile is not None]
    assert names == [
        "青岛海韵国际物流有限公司",
        "青岛崂山云雾茶业有限公司",
        "青岛胶州湾精密机械制造有限公司",
        "青岛城阳宏远电子科技有限公司",
    ]
    fixed = records[4].profile
    assert fixed is not None
    assert fixed.subject.ids[0].value == "91370214MA3N2W7P00"


def test_bulk_type_errors_name_their_line() -> None:
    lines = [
        encoded(sample("haiyun_logistics.json")),
        encoded(_penalty_record(处罚内容=100)),
        b"not json",
    ]
    records = list(adapter.read(io.BytesIO(b"\n".join(lines) + b"\n")))
    assert records[0].profile is not None
    assert records[1].error is not None
    assert (records[1].error.field, records[1].error.rule) == (
        "line 2: /行政处罚/0/处罚内容",
        "type",
    )
    assert records[2].error is not None
    assert (records[2].error.field, records[2].error.rule) == ("line 3", "json")
