"""Mutual-recognition rules as data: rule packs (``_pack``: the format, its decisions and its
own tests) and the book of active packs that answers a question (``_book``)."""

from gateway.rules._book import RuleBook, rating_facts
from gateway.rules._pack import ENGINE, Decision, Failure, Outcome, Reason, RulePack

__all__ = [
    "ENGINE",
    "Decision",
    "Failure",
    "Outcome",
    "Reason",
    "RuleBook",
    "RulePack",
    "rating_facts",
]
