"""Paths into a canonical profile's proto3 JSON document (lowerCamelCase names), as mapping specs
write them: ``subject.legalName.ru``, ``subject.ids[scheme=RU_INN].value``, ``ratings``.

A ``[key=value]`` step selects the element of a repeated field whose ``key`` is ``value`` (and
creates it when setting), so a spec can name one identifier among several without an index.
Every resolved location is also given as the JSON pointer that validation errors use
(``/subject/ids/0/value``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(?:\[([A-Za-z][A-Za-z0-9]*)=([^\]]+)\])?$")


@dataclass(frozen=True)
class Step:
    name: str
    key: str | None = None  # [key=value] selector on a repeated field
    value: str | None = None


@dataclass(frozen=True)
class CanonicalPath:
    text: str
    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> CanonicalPath:
        steps = []
        for part in text.split("."):
            match = _STEP.match(part)
            if match is None:
                raise ValueError(f"bad canonical path {text!r} at {part!r}")
            steps.append(Step(*match.groups()))
        return cls(text, tuple(steps))

    def get(self, document: dict[str, Any]) -> Any:
        node: Any = document
        for step in self.steps:
            if not isinstance(node, dict) or step.name not in node:
                return None
            node = node[step.name]
            if step.key is not None:
                node = next((item for item in node if item.get(step.key) == step.value), None)
        return node

    def set(self, document: dict[str, Any], value: Any) -> str:
        """Set the value, creating what is missing on the way; returns its JSON pointer."""
        node = document
        pointer = ""
        for i, step in enumerate(self.steps):
            last = i == len(self.steps) - 1
            pointer += f"/{step.name}"
            if step.key is None:
                if last:
                    node[step.name] = value
                    return pointer
                node = node.setdefault(step.name, {})
                continue
            items = node.setdefault(step.name, [])
            index = next(
                (n for n, item in enumerate(items) if item.get(step.key) == step.value), None
            )
            if index is None:
                index = len(items)
                items.append({step.key: step.value})
            pointer += f"/{index}"
            if last:
                items[index] = value
                return pointer
            node = items[index]
        raise AssertionError("unreachable: a path has at least one step")

    def __str__(self) -> str:
        return self.text
