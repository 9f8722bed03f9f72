"""One log event per check or asset, never one per symbol or row: big drops stay cheap.

`summarise` turns any number of messages into one text: the count, the first `limit` messages,
and how many more there are (the full list lives in the asset's metadata table or the audit log).
"""

from __future__ import annotations

from collections.abc import Iterable

LOG_LIMIT = 20


def summarise(title: str, messages: Iterable[str], limit: int = LOG_LIMIT) -> str | None:
    """'title (N): m1; m2; …; and K more' — None when there is nothing to say."""
    items = list(messages)
    if not items:
        return None
    shown = items[:limit]
    text = f"{title} ({len(items):,}):\n" + "\n".join(f"  - {m}" for m in shown)
    if len(items) > limit:
        text += f"\n  … and {len(items) - limit:,} more"
    return text
