"""The credit report's own words, in zh, en and ru (in that order, as ``gateway.names``): labels,
headings and the sentences it states, with ``{placeholders}`` filled by ``_content.py``. Names of
grades, AEO types, schemes and countries are in ``gateway.names``.

The sentences about public records are statements a reader relies on instead of a certificate of
no violation: each names what it covers (kind, authority, period, source and the date of the
source's data) and no more.
"""

from __future__ import annotations

from gateway.schema.cxg.v1.profile_pb2 import (
    AeoState,
    AuthorityType,
    DisputeState,
    EntityStatus,
    PublicRecordKind,
    RepairState,
)

Words = tuple[str, str, str]

TEXT: dict[str, Words] = {
    # -- every page ----------------------------------------------------------------------------
    "title": ("企业信用报告", "Company credit report", "Кредитный отчёт о компании"),
    "report_id": ("报告编号", "Report id", "Номер отчёта"),
    "issued": ("出具时间", "Issued", "Выдан"),
    "valid_until": ("有效期至", "Valid until", "Действителен до"),
    "page": ("第 {page}/{pages} 页", "Page {page}/{pages}", "Стр. {page}/{pages}"),
    "verify_at": ("扫码或访问网址查验", "Verify at", "Проверка"),
    "issued_by": ("出具方：{issuer}", "Issued by {issuer}", "Выдал: {issuer}"),
    "purpose": ("用途：{purpose}", "Purpose: {purpose}", "Цель: {purpose}"),
    "replaces": (
        "就下列信息来源和期间，本报告可替代无违法违规证明。",
        "This report replaces certificates of no violation of laws and regulations for the"
        " sources and period below.",
        "Отчёт заменяет справки об отсутствии нарушений законодательства по указанным ниже"
        " источникам и за указанный ниже период.",
    ),
    # -- identity ------------------------------------------------------------------------------
    "sec_identity": ("企业基本信息", "Company identity", "Сведения о компании"),
    "name_zh": ("名称（中文）", "Name (Chinese)", "Наименование (кит.)"),
    "name_en": ("名称（英文）", "Name (English)", "Наименование (англ.)"),
    "name_ru": ("名称（俄文）", "Name (Russian)", "Наименование (рус.)"),
    "name_local": ("名称（{lang}）", "Name ({lang})", "Наименование ({lang})"),
    "name_local_unnamed": (
        "名称（当地语言）",
        "Name (local language)",
        "Наименование (местный язык)",
    ),
    "country": ("注册国家", "Country of registration", "Страна регистрации"),
    "address": ("地址", "Address", "Адрес"),
    "legal_form": ("组织形式", "Legal form", "Организационно-правовая форма"),
    "status": ("登记状态", "Legal status", "Статус"),
    "registration_date": ("成立日期", "Registration date", "Дата регистрации"),
    "profile": ("信用档案", "Credit profile", "Кредитный профиль"),
    "profile_value": (
        "{name}，第 {version} 版",
        "{name}, version {version}",
        "{name}, версия {version}",
    ),
    "identifiers": ("标识码", "Identifiers", "Идентификаторы"),
    "register": ("登记机关：{register}", "Register: {register}", "Реестр: {register}"),
    # -- AEO -----------------------------------------------------------------------------------
    "sec_aeo": (
        "经认证的经营者（AEO）",
        "Authorised Economic Operator (AEO)",
        "Уполномоченный экономический оператор (УЭО)",
    ),
    "aeo_none": (
        "未登记 AEO 认证。",
        "No AEO authorisation is recorded.",
        "Статус УЭО не зарегистрирован.",
    ),
    "aeo_number": ("AEO 编号", "AEO number", "Номер УЭО"),
    "aeo_country": ("认证国家", "Programme country", "Страна программы"),
    "aeo_type": ("类型", "Type", "Тип"),
    "aeo_status": ("状态", "Status", "Статус"),
    "aeo_authorised": ("认证日期", "Authorised on", "Дата присвоения"),
    "aeo_valid_until": ("有效期至", "Valid until", "Действует до"),
    "open_ended": ("长期有效", "Open-ended", "Бессрочно"),
    "recognitions": (
        "伙伴国家海关互认情况（截至出具日）",
        "Recognition by partner countries' customs on the day of issue",
        "Признание таможнями стран-партнёров на дату выдачи",
    ),
    "recognitions_none": (
        "尚无伙伴国家海关的互认信息。",
        "No partner country's recognition is recorded for this authorisation.",
        "Сведений о признании этого статуса таможнями стран-партнёров нет.",
    ),
    "recognition_rule": ("规则 {rule}", "rule {rule}", "правило {rule}"),
    "recognition_pack": ("规则包 {pack}", "rule pack {pack}", "пакет правил {pack}"),
    "recognized": ("予以认可", "Recognised", "Признаётся"),
    "not_recognized": ("不予认可", "Not recognised", "Не признаётся"),
    "open": ("尚无定论", "Not decided", "Не решено"),
    # -- grade ---------------------------------------------------------------------------------
    "sec_grade": ("信用等级", "Credit grade", "Кредитный рейтинг"),
    "common_grade": ("通用等级", "Common grade", "Единый класс"),
    "grade_value": (
        "{bucket}（{ordinal}/10）",
        "{bucket} ({ordinal}/10)",
        "{bucket} ({ordinal}/10)",
    ),
    "grade_basis": (
        "依据 {scheme} 评级；规则包 {pack}",
        "from the {scheme} rating; rule pack {pack}",
        "по рейтингу {scheme}; пакет правил {pack}",
    ),
    "grade_none": (
        "本报告未显示通用等级。",
        "No common grade is shown in this report.",
        "Единый класс в отчёте не приводится.",
    ),
    "ratings": ("评级", "Ratings", "Рейтинги"),
    "ratings_none": (
        "本报告未显示评级。",
        "No rating is shown in this report.",
        "Рейтинги в отчёте не приводятся.",
    ),
    "rating_issuer": ("评级机构 {issuer}", "issued by {issuer}", "выдал {issuer}"),
    "rating_as_of": ("评定日期 {date}", "as of {date}", "на {date}"),
    "rating_valid": (
        "有效期 {start} 至 {end}",
        "valid {start} to {end}",
        "действует с {start} по {end}",
    ),
    "rating_from": ("自 {start} 起有效", "valid from {start}", "действует с {start}"),
    "rating_until": ("有效至 {end}", "valid until {end}", "действует по {end}"),
    # -- public records ------------------------------------------------------------------------
    "sec_records": (
        "公共信用记录（{start} 至 {end}）",
        "Public records, {start} to {end}",
        "Публичные записи с {start} по {end}",
    ),
    "records_intro": (
        "本节列出决定日期在 {start} 至 {end} 之间的行政许可、行政处罚和失信名单记录。",
        "This section covers administrative licences, penalties and dishonesty-list entries"
        " decided between {start} and {end}.",
        "В разделе приведены административные лицензии, наказания и записи в списках"
        " недобросовестных лиц с датой решения с {start} по {end}.",
    ),
    "records_not_shown": (
        "本报告用途（{purpose}）不包括{authorities}的记录，本报告对此不作任何说明。",
        "Records of {authorities} are not included for the purpose {purpose}: this report"
        " states nothing about them.",
        "Записи {authorities} для цели «{purpose}» не включаются: отчёт ничего о них не"
        " утверждает.",
    ),
    "records_unknown": (
        "本报告对 {start} 至 {end} 期间未列出的公共信用记录不作任何说明：{reason}。",
        "This report states nothing about public records for {start} to {end} beyond those"
        " listed: {reason}.",
        "Отчёт ничего не утверждает о публичных записях за период с {start} по {end}, кроме"
        " приведённых: {reason}.",
    ),
    "reason_no_date": (
        "信息来源未说明数据的获取日期",
        "the source does not state when its data were retrieved",
        "источник не указал дату получения данных",
    ),
    "reason_before": (
        "信息来源 {source} 的数据截至 {as_of}，早于该期间",
        "the data of {source} are as of {as_of}, before the period",
        "данные источника {source} приведены на {as_of}, до начала периода",
    ),
    "no_record": (
        "{start}至{end}期间，未发现{authority}作出的{kind}记录（{coverage}）。",
        "No {kind} by {authority} is recorded between {start} and {end} ({coverage}).",
        "{kind} {authority} за период с {start} по {end} не зарегистрированы ({coverage}).",
    ),
    "coverage": (
        "信息来源：{source}；数据截至 {as_of}",
        "source: {source}; data as of {as_of}",
        "источник: {source}; данные на {as_of}",
    ),
    "coverage_partial": (
        "信息来源：{source}；数据截至 {as_of}，该来源仅覆盖至该日，未覆盖至 {end}",
        "source: {source}; data as of {as_of}: the source covers the period only up to that"
        " date, not to {end}",
        "источник: {source}; данные на {as_of}: источник охватывает период только до этой"
        " даты, а не до {end}",
    ),
    "source_unnamed": ("未注明", "not named", "не указан"),
    "listed_by": (
        "{authority}（{coverage}）",
        "{authority} ({coverage})",
        "{authority} ({coverage})",
    ),
    "decision_number": ("决定书文号", "Decision no.", "№ решения"),
    "decision_date": ("决定日期", "Date", "Дата решения"),
    "authority": ("决定机关", "Authority", "Орган"),
    "summary": ("内容", "Summary", "Содержание"),
    "record_state": ("状态", "State", "Состояние"),
    "disclosed_until": ("公示至 {date}", "disclosed until {date}", "публикуется до {date}"),
    "not_stated": ("未注明", "not stated", "не указано"),
    # -- disputes ------------------------------------------------------------------------------
    "sec_disputes": ("未决异议", "Open disputes", "Открытые возражения"),
    "disputes_none": ("无未决异议。", "No open dispute.", "Открытых возражений нет."),
    "dispute_value": (
        "提出日期 {filed}；答复期限 {due}",
        "filed {filed}; answer due {due}",
        "подано {filed}; срок ответа {due}",
    ),
    "dispute_fields": ("涉及字段：{fields}", "fields: {fields}", "поля: {fields}"),
    "dispute_fields_outside": (
        "涉及字段不在本报告范围内",
        "the disputed fields are outside this report",
        "оспариваемые поля не входят в отчёт",
    ),
    "under_review": (
        "异议处理中或信用修复中的记录",
        "Records under dispute or repair",
        "Записи, которые оспариваются или восстанавливаются",
    ),
    # -- closing -------------------------------------------------------------------------------
    "sec_about": ("关于本报告", "About this report", "Об отчёте"),
    "about": (
        "本报告由网关根据信息提供方发布并签名的信用档案生成，并经网关数字签名；所示档案的签名原件作为附件"
        " profile.jws 嵌入本文件。扫描二维码或访问上述网址，可查验本报告是否为原件及其当前状态。",
        "The gateway made this report from the credit profile its source published and signed,"
        " and signed the report; the signed profile shown is attached to this file as"
        " profile.jws. Scan the QR code or open the address above to check that this copy is"
        " the original and whether it is still valid.",
        "Шлюз составил отчёт по кредитному профилю, опубликованному и подписанному источником,"
        " и подписал отчёт; подписанный профиль приложен к файлу как profile.jws. Отсканируйте"
        " QR-код или откройте адрес выше, чтобы проверить подлинность экземпляра и его"
        " действительность.",
    ),
}

# The authority's own name a record states, else its type.
AUTHORITIES: dict[int, Words] = {
    AuthorityType.AUTHORITY_TYPE_CUSTOMS: ("海关", "Customs authorities", "Таможенные органы"),
    AuthorityType.AUTHORITY_TYPE_TAX: ("税务机关", "Tax authorities", "Налоговые органы"),
    AuthorityType.AUTHORITY_TYPE_MARKET_REGULATION: (
        "市场监管部门",
        "Market regulation authorities",
        "Органы надзора за рынком",
    ),
    AuthorityType.AUTHORITY_TYPE_COURT: ("法院", "Courts", "Суды"),
    AuthorityType.AUTHORITY_TYPE_OTHER: ("其他机关", "Other authorities", "Иные органы"),
    AuthorityType.AUTHORITY_TYPE_UNSPECIFIED: (
        "未注明类型的机关",
        "Authorities of unstated type",
        "Органы неуказанного типа",
    ),
}
# In a sentence: "by customs authorities", "таможенных органов" (genitive).
AUTHORITIES_IN_TEXT: dict[int, Words] = {
    AuthorityType.AUTHORITY_TYPE_CUSTOMS: ("海关", "customs authorities", "таможенных органов"),
    AuthorityType.AUTHORITY_TYPE_TAX: ("税务机关", "tax authorities", "налоговых органов"),
    AuthorityType.AUTHORITY_TYPE_MARKET_REGULATION: (
        "市场监管部门",
        "market regulation authorities",
        "органов надзора за рынком",
    ),
    AuthorityType.AUTHORITY_TYPE_COURT: ("法院", "courts", "судов"),
    AuthorityType.AUTHORITY_TYPE_OTHER: ("其他机关", "other authorities", "иных органов"),
    AuthorityType.AUTHORITY_TYPE_UNSPECIFIED: (
        "未注明类型的机关",
        "authorities of unstated type",
        "органов неуказанного типа",
    ),
}
# Headings: one per kind.
KINDS: dict[int, Words] = {
    PublicRecordKind.PUBLIC_RECORD_KIND_LICENCE: (
        "行政许可",
        "Administrative licences",
        "Административные лицензии",
    ),
    PublicRecordKind.PUBLIC_RECORD_KIND_PENALTY: (
        "行政处罚",
        "Administrative penalties",
        "Административные наказания",
    ),
    PublicRecordKind.PUBLIC_RECORD_KIND_DISHONESTY_LIST: (
        "失信名单",
        "Dishonesty lists",
        "Списки недобросовестных лиц",
    ),
    PublicRecordKind.PUBLIC_RECORD_KIND_UNSPECIFIED: (
        "其他公共记录（类型未注明）",
        "Other public records (kind not stated)",
        "Прочие публичные записи (вид не указан)",
    ),
}
# In the no-record sentence: "No administrative penalty", "Административные наказания ... не
# зарегистрированы".
KINDS_IN_TEXT: dict[int, Words] = {
    PublicRecordKind.PUBLIC_RECORD_KIND_LICENCE: (
        "行政许可",
        "administrative licence",
        "Административные лицензии",
    ),
    PublicRecordKind.PUBLIC_RECORD_KIND_PENALTY: (
        "行政处罚",
        "administrative penalty",
        "Административные наказания",
    ),
    PublicRecordKind.PUBLIC_RECORD_KIND_DISHONESTY_LIST: (
        "失信名单",
        "entry on a dishonesty list",
        "Записи в списках недобросовестных лиц",
    ),
    PublicRecordKind.PUBLIC_RECORD_KIND_UNSPECIFIED: (
        "未注明类型的公共记录",
        "public record of unstated kind",
        "Публичные записи неуказанного вида",
    ),
}

ENTITY_STATUS: dict[int, Words] = {
    EntityStatus.ENTITY_STATUS_UNSPECIFIED: (
        "来源未说明",
        "Not stated by the source",
        "Источник не указал",
    ),
    EntityStatus.ENTITY_STATUS_ACTIVE: ("存续", "Active", "Действующая"),
    EntityStatus.ENTITY_STATUS_INACTIVE: ("停业", "Not operating", "Не ведёт деятельность"),
    EntityStatus.ENTITY_STATUS_LIQUIDATING: ("清算中", "In liquidation", "В процессе ликвидации"),
    EntityStatus.ENTITY_STATUS_DISSOLVED: ("注销", "Dissolved", "Ликвидирована"),
}

AEO_STATES: dict[int, Words] = {
    AeoState.AEO_STATE_UNSPECIFIED: (
        "来源未说明",
        "Not stated by the source",
        "Источник не указал",
    ),
    AeoState.AEO_STATE_AUTHORISED: ("有效", "Authorised", "Действует"),
    AeoState.AEO_STATE_SUSPENDED: ("暂停", "Suspended", "Приостановлен"),
    AeoState.AEO_STATE_REVOKED: ("撤销", "Revoked", "Отозван"),
    AeoState.AEO_STATE_ANNULLED: ("注销（视为未曾授予）", "Annulled", "Аннулирован"),
}

# NONE has no words: a record without a dispute or repair says nothing about either.
DISPUTE_STATES: dict[int, Words] = {
    DisputeState.DISPUTE_STATE_DISPUTED: ("异议处理中", "Disputed", "Оспаривается"),
    DisputeState.DISPUTE_STATE_CORRECTED: (
        "经异议已更正",
        "Corrected after a dispute",
        "Исправлено по возражению",
    ),
    DisputeState.DISPUTE_STATE_REJECTED: (
        "异议未获支持",
        "Dispute rejected",
        "Возражение отклонено",
    ),
}
REPAIR_STATES: dict[int, Words] = {
    RepairState.REPAIR_STATE_REQUESTED: ("信用修复中", "Under repair", "На восстановлении"),
    RepairState.REPAIR_STATE_REPAIRED: ("已完成信用修复", "Repaired", "Восстановлено"),
    RepairState.REPAIR_STATE_REFUSED: (
        "信用修复被拒",
        "Repair refused",
        "В восстановлении отказано",
    ),
}

# Where each scheme's identifiers come from (the register a reader can check them in).
REGISTERS: dict[str, Words] = {
    "CN_USCC": (
        "国家企业信用信息公示系统（市场监督管理部门）",
        "National Enterprise Credit Information Publicity System (market regulation)",
        "Национальная система публикации сведений о кредитоспособности предприятий КНР"
        " (надзор за рынком)",
    ),
    "RU_INN": (
        "俄罗斯联邦税务局（国家法人统一登记簿）",
        "Federal Tax Service of Russia (EGRUL)",
        "Федеральная налоговая служба (ЕГРЮЛ)",
    ),
    "RU_OGRN": (
        "俄罗斯联邦税务局（国家法人统一登记簿）",
        "Federal Tax Service of Russia (EGRUL)",
        "Федеральная налоговая служба (ЕГРЮЛ)",
    ),
    "KZ_BIN": (
        "哈萨克斯坦国家商业识别号登记簿",
        "National Register of Business Identification Numbers of Kazakhstan",
        "Национальный реестр бизнес-идентификационных номеров Казахстана",
    ),
    "BY_UNP": (
        "白俄罗斯税务机关纳税人登记簿",
        "Taxpayer register of the tax authorities of Belarus",
        "Реестр плательщиков налоговых органов Беларуси",
    ),
    "LEI": (
        "全球法人识别编码基金会（GLEIF）",
        "Global Legal Entity Identifier Foundation (GLEIF)",
        "Глобальный фонд идентификаторов юридических лиц (GLEIF)",
    ),
    "AEO": ("{country}海关", "Customs of {country}", "Таможня: {country}"),
}
REGISTER_AS_PUBLISHED: Words = (
    "以信息来源发布的为准",
    "As published by the source",
    "По данным источника",
)

# Between the parts of a list in running text, and around a label's value.
LIST_SEPARATOR: Words = ("、", ", ", ", ")
CLAUSE_SEPARATOR: Words = ("；", "; ", "; ")
PARENTHESES: tuple[Words, Words] = (("（", " (", " ("), ("）", ")", ")"))
