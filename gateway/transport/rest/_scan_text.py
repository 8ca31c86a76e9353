"""The scan-to-check page's own words, in zh, en and ru (in that order). The names of the values
a code carries are in ``gateway.names``."""

from __future__ import annotations

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
