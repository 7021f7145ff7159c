"""The recall's paper: a CSV call list for the front desk and one printable HTML letter
per patient, rendered from ``templates/recall_letter.html.j2`` or the clinic's own copy
(setting ``recall_letter_template``).

Files are written whole: each goes to a temporary name next to it and is renamed once
complete, so a failed run never leaves half a letter behind.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    select_autoescape,
)

from ..errors import InvalidInputError
from .domain import CALL_LIST_COLUMNS, AffectedPatient, Recall, call_list_rows

LETTER_TEMPLATE = "recall_letter.html.j2"


def call_list_csv(patients: Sequence[AffectedPatient]) -> str:
    """The call list as CSV text (header row, one row per patient)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CALL_LIST_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(call_list_rows(patients))
    return out.getvalue()


def letter_template(env: Environment, custom: str | None = None) -> Template:
    """The letter template: the clinic's own file (setting ``recall_letter_template``,
    kept outside the installed package so an upgrade leaves it alone) or the built-in
    one. A template that does not parse is a one-line error."""
    try:
        if not custom:
            return env.get_template(LETTER_TEMPLATE)
        path = Path(custom)
        own = Environment(loader=FileSystemLoader(str(path.parent)),
                          autoescape=select_autoescape(default=True),
                          undefined=StrictUndefined)
        return own.get_template(path.name)
    except TemplateError as exc:
        raise InvalidInputError(f"recall letter template {custom or LETTER_TEMPLATE}: "
                                f"{exc.message or type(exc).__name__}") from None


def letter_html(template: Template, recall: Recall, patient: AffectedPatient,
                clinic: dict[str, str]) -> str:
    """One patient's letter, dated the day the recall was opened (a re-run writes the
    same letter)."""
    try:
        return template.render(recall=recall, patient=patient, clinic=clinic,
                               dated=recall.opened_at.date())
    except TemplateError as exc:
        raise InvalidInputError(f"recall letter template {template.name}: "
                                f"{exc.message or type(exc).__name__}") from None


def file_names(recall: Recall, patients: Sequence[AffectedPatient]) -> list[str]:
    """The names ``write_documents`` writes, call list first."""
    return [f"recall-{recall.id}-call-list.csv"] + [
        f"recall-{recall.id}-letter-{p.pid}.html" for p in patients]


def _write(path: Path, content: str) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(content, encoding="utf-8", newline="")
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def write_documents(template: Template, recall: Recall,
                    patients: Sequence[AffectedPatient], clinic: dict[str, str],
                    output_dir: str) -> list[Path]:
    """Write the call list and the letters into ``output_dir`` (created if missing).
    The same recall writes the same files: a second run replaces them unchanged."""
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        names = file_names(recall, patients)
        contents = [call_list_csv(patients)] + [
            letter_html(template, recall, p, clinic) for p in patients]
        paths = []
        for name, content in zip(names, contents, strict=True):
            _write(folder / name, content)
            paths.append(folder / name)
    except OSError as exc:
        raise InvalidInputError(f"cannot write to {output_dir}: {exc.strerror}") from None
    return paths
