"""Names, in zh, en and ru (in that order), of the values documents show and never print raw:
common grade buckets (``GRADES``, the scale of rules/README.md), AEO programme types
(``AEO_TYPES``, the canonical types of the customs-aeo-list adapter and the rule packs),
identifier schemes (``SCHEMES``), purposes (``PURPOSES``) and countries (``country_name``: CLDR's names, from Babel's
locale data). The scan-to-check page and the credit report both read them.

A value without a name here (a bucket a new rule pack brings, a type a partner adds) is shown as
it is rather than not at all; tests/test_scan_i18n.py fails until it has all three names.
"""

from __future__ import annotations

import functools

from babel import Locale

LANGUAGES = ("zh", "en", "ru")  # the columns of every table here

# The common scale, best first (ordinal 10 to 1).
GRADES = {
    "PRIME": ("最高级", "Prime", "Высший"),
    "HIGH": ("高级", "High grade", "Высокий"),
    "UPPER_MEDIUM": ("中上级", "Upper medium grade", "Выше среднего"),
    "LOWER_MEDIUM": ("中下级", "Lower medium grade", "Ниже среднего"),
    "SPECULATIVE": ("投机级", "Speculative", "Спекулятивный"),
    "HIGHLY_SPECULATIVE": ("高度投机级", "Highly speculative", "Высокоспекулятивный"),
    "SUBSTANTIAL_RISK": ("重大风险", "Substantial risk", "Значительный риск"),
    "EXTREMELY_SPECULATIVE": ("极度投机级", "Extremely speculative", "Крайне спекулятивный"),
    "DEFAULT_IMMINENT": ("濒临违约", "Default imminent", "Близок к дефолту"),
    "IN_DEFAULT": ("已违约", "In default", "Дефолт"),
}

AEO_TYPES = {
    "AEOC": (
        "海关简化手续（欧盟 AEOC）",
        "Customs simplifications (EU AEOC)",
        "Таможенные упрощения (AEOC, ЕС)",
    ),
    "AEOS": (
        "安全与保障（欧盟 AEOS）",
        "Security and safety (EU AEOS)",
        "Безопасность и защищённость (AEOS, ЕС)",
    ),
    "AEOF": (
        "海关简化及安全与保障（欧盟 AEOF）",
        "Customs simplifications, security and safety (EU AEOF)",
        "Таможенные упрощения, безопасность и защищённость (AEOF, ЕС)",
    ),
    "CN_ADVANCED": (
        "高级认证企业",
        "Advanced certified enterprise (China Customs)",
        "Предприятие с высшей сертификацией (таможня КНР)",
    ),
    "CN_CERTIFIED": (
        "认证企业",
        "Certified enterprise (China Customs)",
        "Сертифицированное предприятие (таможня КНР)",
    ),
    "BY_THIRD_CATEGORY": (
        "第三类经认证的经营者（白俄罗斯）",
        "AEO, third type (Belarus)",
        "УЭО третьего типа (Беларусь)",
    ),
    "MN_AEO": ("经认证的经营者（蒙古国）", "AEO (Mongolia)", "УЭО (Монголия)"),
    "RU_AEO": ("经认证的经营者（俄罗斯）", "AEO (Russia)", "УЭО (Россия)"),
}

# Identifier schemes as the page labels an identifier (gateway.identifiers.SCHEMES).
SCHEMES = {
    "CN_USCC": ("统一社会信用代码", "Unified social credit code", "Единый код социального кредита"),
    "LEI": ("LEI", "LEI", "LEI"),
    "RU_INN": ("俄罗斯纳税人识别号", "Russian INN", "ИНН (Россия)"),
    "RU_OGRN": ("俄罗斯国家注册号", "Russian OGRN", "ОГРН (Россия)"),
    "BY_UNP": ("白俄罗斯纳税人号", "Belarus UNP", "УНП (Беларусь)"),
    "IN_GSTIN": ("印度商品及服务税号", "India GSTIN", "GSTIN (Индия)"),
    "KZ_BIN": ("哈萨克斯坦商业识别号", "Kazakhstan BIN", "БИН (Казахстан)"),
    "UZ_INN": ("乌兹别克斯坦纳税人识别号", "Uzbekistan INN", "ИНН (Узбекистан)"),
    "KG_INN": ("吉尔吉斯斯坦纳税人识别号", "Kyrgyzstan INN", "ИНН (Кыргызстан)"),
    "TJ_INN": ("塔吉克斯坦纳税人识别号", "Tajikistan INN", "ИНН (Таджикистан)"),
    "PK_NTN": ("巴基斯坦国家税号", "Pakistan NTN", "NTN (Пакистан)"),
    "AEO": ("AEO 编号", "AEO number", "Номер УЭО"),
    "SCO": ("上合码编号", "SCO code id", "Номер кода ШОС"),
}


def named(table: dict[str, tuple[str, str, str]], value: str, column: int) -> str:
    """``value``'s name in the language of ``column``; the value itself when it has none."""
    names = table.get(value)
    return names[column] if names else value


@functools.cache
def _territories(language: str) -> dict[str, str]:
    return dict(Locale.parse(language).territories)


def country_name(code: str, language: str) -> str:
    """An ISO 3166-1 alpha-2 code's name in ``language`` (zh, en, ru), as CLDR has it; the code
    itself when CLDR has none."""
    return _territories(language).get(code.upper(), code) if len(code) == 2 else code


# Purposes, as running text names them (gateway/trust/policy.py PURPOSES, and a company's own
# report, ``subject_access``).
PURPOSES = {
    "trade_due_diligence": ("贸易尽职调查", "trade due diligence", "проверка контрагента"),
    "customs_clearance": ("海关通关", "customs clearance", "таможенное оформление"),
    "credit_assessment": ("信贷评估", "credit assessment", "оценка кредитоспособности"),
    "credit_reporting": ("征信机构间交换", "credit reporting", "обмен между кредитными бюро"),
    "subject_access": ("企业自查", "the company's own copy", "экземпляр для самой компании"),
}
