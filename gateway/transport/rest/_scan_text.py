"""The scan-to-check page's words, in zh, en and ru (in that order): its own text (``TEXT``), and
the names of the values a code carries, which the page never shows raw: common grade buckets
(``GRADES``, the scale of rules/README.md), AEO programme types (``AEO_TYPES``, the canonical
types of the customs-aeo-list adapter and the rule packs), identifier schemes (``SCHEMES``) and
countries (``country_name``: CLDR's names, from Babel's locale data).

A value without a name here (a bucket a new rule pack brings, a type a partner adds) is shown as
it is rather than not at all; tests/test_scan_i18n.py fails until it has all three names.
"""

from __future__ import annotations

import functools

from babel import Locale

TEXT = {
    "title": ("上合码查验", "SCO code check", "Проверка кода ШОС"),
    "language": ("语言", "Language", "Язык"),
    "VALID": ("有效", "Valid", "Действителен"),
    "VALID_explained": (
        "签名已验证，本码有效，未被撤销或暂停。",
        "The signature checks out and the code is in force: not revoked, not suspended.",
        "Подпись верна, код действует: не отозван и не приостановлен.",
    ),
    "REVOKED": ("已撤销", "Revoked", "Отозван"),
    "REVOKED_explained": (
        "签发方已撤销本码，不应再信任。",
        "The issuer has revoked this code. Do not rely on it.",
        "Выпустивший код отозвал его. Не полагайтесь на него.",
    ),
    "SUSPENDED": ("已暂停", "Suspended", "Приостановлен"),
    "SUSPENDED_explained": (
        "签发方已暂停本码，暂不应信任。",
        "The issuer has suspended this code for now. Do not rely on it.",
        "Выпустивший код временно приостановил его. Пока не полагайтесь на него.",
    ),
    "UNDER_REVIEW": ("审查中", "Under review", "На проверке"),
    "UNDER_REVIEW_explained": (
        "签发方正在审查本码，请谨慎对待。",
        "The issuer is reviewing this code. Treat it with caution.",
        "Выпустивший код проверяет его. Относитесь к нему с осторожностью.",
    ),
    "under_dispute": (
        "异议处理中：本企业对其信用信息的异议尚待信息提供方答复。",
        "Under dispute: the company has disputed its credit data, and the publisher has not"
        " answered yet.",
        "Оспаривается: компания оспорила свои кредитные данные, ответа поставщика ещё нет.",
    ),
    "EXPIRED": ("已过期", "Expired", "Срок истёк"),
    "EXPIRED_explained": (
        "本码已超过有效期。",
        "This code is past its expiry date.",
        "Срок действия кода истёк.",
    ),
    "NOT_YET_VALID": ("尚未生效", "Not yet valid", "Ещё не действует"),
    "NOT_YET_VALID_explained": (
        "本码的生效时间尚未到来。",
        "This code is not in force yet.",
        "Код ещё не вступил в силу.",
    ),
    "FORGED": ("伪造", "Forged", "Подделка"),
    "FORGED_explained": (
        "签名不符：本码被篡改或伪造。",
        "The signature does not match: this code was altered or forged.",
        "Подпись не совпадает: код изменён или подделан.",
    ),
    "UNKNOWN_ISSUER": ("签发方未知", "Unknown issuer", "Неизвестный выпускающий"),
    "UNKNOWN_ISSUER_explained": (
        "本码的签发密钥不在受信任名单中。",
        "The key that signed this code is not on the trust list.",
        "Ключа, подписавшего код, нет в списке доверия.",
    ),
    "STALE_TRUST_LIST": ("无法查验", "Cannot check", "Проверка невозможна"),
    "STALE_TRUST_LIST_explained": (
        "受信任密钥名单已过期，暂时无法查验。",
        "The trust list of issuer keys is out of date, so the code cannot be checked now.",
        "Список доверенных ключей устарел, проверить код сейчас нельзя.",
    ),
    "MALFORMED": ("无效的码", "Not a valid code", "Недействительный код"),
    "MALFORMED_explained": (
        "这不是完整的上合码（可能被截断或扫描有误）。",
        "This is not a complete SCO code (it may be cut short or misread).",
        "Это не полный код ШОС (возможно, обрезан или неверно считан).",
    ),
    "OVERSIZE": ("无效的码", "Not a valid code", "Недействительный код"),
    "OVERSIZE_explained": (
        "内容过长，不是上合码。",
        "The content is too long to be an SCO code.",
        "Содержимое слишком длинное для кода ШОС.",
    ),
    "company": ("企业", "Company", "Компания"),
    "country": ("国家", "Country", "Страна"),
    "identifiers": ("标识码", "Identifiers", "Идентификаторы"),
    "grade": ("信用等级", "Credit grade", "Кредитный класс"),
    "aeo": (
        "经认证的经营者（AEO）",
        "Authorised Economic Operator (AEO)",
        "Уполномоченный экономический оператор (УЭО)",
    ),
    "aeo_yes": ("是", "Yes", "Да"),
    "aeo_no": ("否", "No", "Нет"),
    # Around the AEO type after aeo_yes: full-width brackets in Chinese text.
    "aeo_open": ("（", " (", " ("),
    "aeo_close": ("）", ")", ")"),
    "none": ("无", "None", "Нет"),
    "validity": ("有效期", "Valid", "Срок действия"),
    "issuer": ("签发方", "Issuer", "Выпустил"),
    "code_id": ("码编号", "Code id", "Номер кода"),
    "checked": ("由网关于以下时间查验：", "Checked by the gateway at", "Проверено шлюзом:"),
}

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
