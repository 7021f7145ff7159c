"""The digest: one message per scan, rendered from the Jinja2 templates in ``templates/``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..resources import templates_dir
from .rules import AlertItem, group_by_kind, sort_items

SUBJECT = "Aesthetic Inventory Alert"
TEXT_TEMPLATE = "alert_digest.txt.j2"
HTML_TEMPLATE = "alert_digest.html.j2"


@dataclass(frozen=True)
class Digest:
    """The rendered digest in every form a channel may need.

    The JSON payload (every item) is built on first use only: a large first scan
    then holds no per-item dictionaries unless a webhook needs them.
    """

    subject: str
    text: str
    html: str
    items: tuple[AlertItem, ...]
    generated_at: datetime

    @cached_property
    def counts(self) -> dict[str, int]:
        """Items per kind."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        """Subject, time and counts: the payload without the items."""
        return {
            "subject": self.subject,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "counts": self.counts,
        }

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The summary plus every item, in digest order."""
        payload = self.summary()
        payload["items"] = [_item_payload(item) for item in sort_items(self.items)]
        return payload

    @property
    def payload_json(self) -> str:
        return json.dumps(self.payload, sort_keys=True)


def build_template_environment() -> Environment:
    """The Jinja2 environment: HTML autoescaped (product names are user input),
    text not; undefined names are errors so a template typo fails in tests."""
    return Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _item_payload(item: AlertItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "key": item.item_key,
        "drug_id": item.drug_id,
        "product": item.product,
        "inventory_id": item.inventory_id,
        "lot_number": item.lot_number,
        "warehouse": item.warehouse,
        "on_hand": item.on_hand,
        "reorder_point": item.reorder_point,
        "expiration": item.expiration.isoformat() if item.expiration else None,
        "days_left": item.days_left,
        "detail": item.detail,
        "on_hand_text": item.on_hand_text,
        "reorder_point_text": item.reorder_point_text,
    }


def render_digest(
    env: Environment,
    items: Sequence[AlertItem],
    *,
    generated_at: datetime,
    max_per_kind: int = 50,
) -> Digest:
    """Render the text and HTML digest and the JSON payload for ``items``.

    The text and HTML list at most ``max_per_kind`` items per kind (and say how
    many more there are): a person reads the digest, and OpenEMR's
    ``notification_log.message`` is a TEXT column (64 KiB). The JSON payload
    (built lazily) carries every item.
    """
    sections = group_by_kind(items)
    shown = [
        (kind, title, group[:max_per_kind], len(group) - min(len(group), max_per_kind))
        for kind, title, group in sections
    ]
    context = {"sections": shown, "total": len(items), "generated_at": generated_at}
    text = env.get_template(TEXT_TEMPLATE).render(context)
    html = env.get_template(HTML_TEMPLATE).render(context)
    return Digest(
        subject=SUBJECT,
        text=text.strip() + "\n",
        html=html,
        items=tuple(items),
        generated_at=generated_at,
    )
