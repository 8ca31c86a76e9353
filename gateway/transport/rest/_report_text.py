"""The report verification page's words, in zh, en and ru (in that order)."""

from __future__ import annotations

TEXT = {
    "title": ("信用报告查验", "Credit report check", "Проверка кредитного отчёта"),
    "language": ("语言", "Language", "Язык"),
    "VALID": ("有效", "Valid", "Действителен"),
    "VALID_explained": (
        "本网关签发了此报告，报告未被撤销，且在有效期内。",
        "This gateway issued the report; it is in force and has not been revoked.",
        "Отчёт выпущен этим шлюзом, действует и не отозван.",
    ),
    "SUPERSEDED": ("已被取代", "Superseded", "Заменён"),
    "SUPERSEDED_explained": (
        "该企业的信用档案在报告签发后已更新，报告内容可能已过时，请索取新报告。",
        "The company's profile has changed since the report was issued: ask for a new report.",
        "Профиль компании изменился после выпуска отчёта: запросите новый отчёт.",
    ),
    "EXPIRED": ("已过期", "Expired", "Истёк"),
    "EXPIRED_explained": (
        "报告已超过有效期，不应再依赖。",
        "The report is past its validity. Do not rely on it.",
        "Срок действия отчёта истёк. Не полагайтесь на него.",
    ),
    "REVOKED": ("已撤销", "Revoked", "Отозван"),
    "REVOKED_explained": (
        "网关运营方已撤销此报告，不应再依赖。",
        "The gateway's operator has revoked this report. Do not rely on it.",
        "Оператор шлюза отозвал этот отчёт. Не полагайтесь на него.",
    ),
    "UNKNOWN": ("未找到", "Not found", "Не найден"),
    "UNKNOWN_explained": (
        "本网关未签发编号为此的报告。",
        "This gateway issued no report with this id.",
        "Этот шлюз не выпускал отчёта с таким номером.",
    ),
    "report_id": ("报告编号", "Report id", "Номер отчёта"),
    "company": ("企业标识", "Company identifier", "Идентификатор компании"),
    "purpose": ("用途", "Purpose", "Цель"),
    "period": ("记录期间", "Records period", "Период записей"),
    "issued": ("签发时间", "Issued", "Выпущен"),
    "expires": ("有效期至", "Valid until", "Действителен до"),
    "revoked": ("撤销时间", "Revoked", "Отозван"),
    "revoke_reason": ("撤销原因", "Reason", "Причина"),
    "sha256": ("文件摘要 (SHA-256)", "Document digest (SHA-256)", "Хеш документа (SHA-256)"),
    "check": ("核对您持有的副本", "Check the copy you hold", "Проверьте вашу копию"),
    "paste": ("粘贴 PDF 的 SHA-256", "Paste the PDF's SHA-256", "Вставьте SHA-256 файла PDF"),
    "upload": ("或选择 PDF 文件", "or choose the PDF file", "или выберите файл PDF"),
    "submit": ("核对", "Check", "Проверить"),
    "match": (
        "一致：您的副本与本网关签发的报告逐字节相同。",
        "Match: your copy is byte for byte the report this gateway issued.",
        "Совпадает: ваша копия побайтно совпадает с выпущенным отчётом.",
    ),
    "mismatch": (
        "不一致：您的副本不是此报告，可能已被篡改。",
        "No match: your copy is not this report; it may have been altered.",
        "Не совпадает: ваша копия не является этим отчётом; возможно, она изменена.",
    ),
    "checked_digest": ("所核对的摘要", "Digest checked", "Проверенный хеш"),
    "checked": ("由网关于以下时间查验：", "Checked by the gateway at", "Проверено шлюзом:"),
}
