"""Triage of incoming cases into general / urgent / critical (R1.4 分级分类处置).

A pure function: the summary, the description, the urgency the operator chose and the node's
keyword rules (``node.config.triage``, operator-configurable in ``node.toml``) in; the urgency
the case gets and the reasons out. Triage only ever *raises* the urgency — the operator who
spoke to the consumer knows more than a keyword list, so their choice is never lowered. The
case service records the reasons in the case history, and urgent/critical cases appear at
once on the leadership board (``GET /api/v1/leadership``, R3.4).

Matching is plain substring search (Chinese needs no word segmentation for this), and
case-insensitive for Latin letters. The compiled form of a rule tuple is cached: triage runs
on every intake (a hot path).
"""
from __future__ import annotations

import functools
from collections.abc import Iterable

from node.config import TriageRule

URGENCIES = ("general", "urgent", "critical")
URGENCY_RANK = {u: i for i, u in enumerate(URGENCIES)}
URGENCY_NAMES_ZH = {"general": "一般", "urgent": "紧急", "critical": "特别紧急"}


@functools.lru_cache(maxsize=32)
def _compiled(rules: tuple[TriageRule, ...]) -> tuple[tuple[TriageRule, tuple[tuple[str, str], ...]], ...]:
    """Rules sorted most severe first, keywords paired with their lower-case form."""
    ordered = sorted(rules, key=lambda r: -URGENCY_RANK.get(r.urgency, 0))
    return tuple((r, tuple((k, k.lower()) for k in r.keywords)) for r in ordered)


def triage(summary: str, description: str, urgency: str,
           rules: Iterable[TriageRule]) -> tuple[str, list[str]]:
    """Return ``(urgency, reasons)``; ``urgency`` is never below the one given.

    ``reasons`` lists, most severe first, each rule that raised the urgency and the keyword
    that matched, in Chinese then English; it is empty when nothing was raised.
    """
    if urgency not in URGENCY_RANK:
        raise ValueError(f"unknown urgency {urgency!r}")
    rules_t = rules if isinstance(rules, tuple) else tuple(rules)
    text = f"{summary or ''}\n{description or ''}".lower()
    result = urgency
    reasons: list[str] = []
    for rule, keywords in _compiled(rules_t):
        rank = URGENCY_RANK.get(rule.urgency, 0)
        if rank <= URGENCY_RANK[urgency]:
            continue  # cannot raise above the operator's choice: skip the scan
        for keyword, lowered in keywords:
            if lowered in text:
                label = f"（{rule.name}）" if rule.name else ""
                reasons.append(
                    f"分级：关键词「{keyword}」{label}→ {URGENCY_NAMES_ZH[rule.urgency]}"
                    f" / triage: keyword {keyword!r} → {rule.urgency}")
                if rank > URGENCY_RANK[result]:
                    result = rule.urgency
                break  # one keyword per rule is reason enough
    return result, reasons
