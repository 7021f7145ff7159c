"""Pure formatting: tables as text, CSV and JSON. No SQL, no printing; renderers
yield strings (or write to a file object) so large outputs stream."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, islice
from operator import attrgetter
from typing import IO, Any


@dataclass(frozen=True)
class Column:
    """One column: header, how to get the value from a row, right-aligned or not."""

    header: str
    key: str
    right: bool = False
    get: Callable[[Any], Any] | None = None

    def value(self, row: Any) -> Any:
        if self.get is not None:
            return self.get(row)
        if isinstance(row, dict):
            return row.get(self.key)
        return getattr(row, self.key)

    def getter(self, sample: Any) -> Callable[[Any], Any]:
        """:meth:`value` as one function for rows shaped like ``sample`` (chosen once
        per table, not per cell: a 200,000-lot listing has 1.4 million cells)."""
        if self.get is not None:
            return self.get
        if isinstance(sample, dict):
            key = self.key
            return lambda row: row.get(key)
        return attrgetter(self.key)


def _getters(columns: list[Column], sample: Any) -> list[Callable[[Any], Any]]:
    return [c.getter(sample) for c in columns]


@dataclass
class Section:
    """A titled table of a report (rows may be a lazy iterable)."""

    title: str
    columns: list[Column]
    rows: Iterable[Any]
    notes: list[str] = field(default_factory=list)
    name: str = ""
    # what people read (text, HTML) when it differs from the data columns (CSV, JSON):
    # stock in packages and units instead of the plain count
    text_columns: list[Column] | None = None

    @property
    def human_columns(self) -> list[Column]:
        return self.text_columns or self.columns


def cell(value: Any) -> str:
    """A value as shown in text and CSV: dates ISO, decimals as written, None blank."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) else str(int(value))
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection:
# a lot number or supplier name "=HYPERLINK(...)"); tab and CR start one in some too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell that no spreadsheet runs as a formula: text starting with
    ``= + - @``, tab or CR gets a leading apostrophe (OWASP's advice); numbers, and
    text that is just a number (a negative quantity), stay as they are."""
    text = cell(value)
    if (isinstance(value, (str, date, datetime)) or value is None) and text.startswith(
            _FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_rows(out: IO[str], header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Write a header and rows as CSV, every cell through :func:`csv_cell` (an int
    is already safe and is written as it is)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([v if type(v) is int else csv_cell(v) for v in row])


def jsonable(value: Any) -> Any:
    """A value as JSON holds it: dates ISO, decimals as numbers."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral() else float(value)
    return value


def render_text(columns: list[Column], rows: Iterable[Any], *, sample: int = 2000
                ) -> Iterator[str]:
    """An aligned text table (header, rule, rows). Column widths come from the first
    ``sample`` rows; later rows stream through with those widths (a longer cell just
    pushes its line), so a 200,000-lot listing never sits in memory."""
    iterator = iter(rows)
    first = list(islice(iterator, 1))
    getters = _getters(columns, first[0]) if first else []
    head = [[cell(g(r)) for g in getters] for r in chain(first, islice(iterator, sample - 1))]
    widths = [max([len(c.header)] + [len(row[i]) for row in head]) for i, c in
              enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if c.right else v.ljust(w)
                 for v, w, c in zip(values, widths, columns, strict=True)]
        return "  ".join(parts).rstrip()

    yield line([c.header for c in columns])
    yield line(["-" * w for w in widths])
    for row in head:
        yield line(row)
    for r in iterator:
        yield line([cell(g(r)) for g in getters])


def render_sections_text(sections: Iterable[Section]) -> Iterator[str]:
    """Every section: title, notes, table (or '(none)')."""
    first = True
    for section in sections:
        if not first:
            yield ""
        first = False
        yield f"== {section.title} =="
        yield from section.notes
        lines = render_text(section.human_columns, section.rows)
        header, rule = next(lines), next(lines)
        row1 = next(lines, None)
        if row1 is None:
            yield "(none)"
            continue
        yield header
        yield rule
        yield row1
        yield from lines


def write_csv(sections: Iterable[Section], out: IO[str]) -> None:
    """CSV: one header row per section; several sections are separated by a blank
    line and a '# title' line, so a spreadsheet opens each block as a table."""
    sections = list(sections)
    for n, section in enumerate(sections):
        if len(sections) > 1:
            if n:
                out.write("\n")
            out.write(f"# {section.title}\n")
        csv_rows(out, [c.header for c in section.columns], _values(section))


def _values(section: Section) -> Iterator[list[Any]]:
    """Each row's values in column order (the getters chosen on the first row)."""
    getters: list[Callable[[Any], Any]] | None = None
    for row in section.rows:
        if getters is None:
            getters = _getters(section.columns, row)
        yield [g(row) for g in getters]


def row_dict(columns: list[Column], row: Any) -> dict[str, Any]:
    return {c.key: jsonable(c.value(row)) for c in columns}


def _json_default(value: Any) -> Any:
    converted = jsonable(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return converted


# values JSON has no type for (dates, decimals) go through jsonable; the others as they are
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default)


def write_json(sections: Iterable[Section], out: IO[str], meta: dict[str, Any]) -> None:
    """``{meta..., "<section name>": [rows...]}``, rows streamed one per line. Keys are
    unique (a duplicate is a programming error: readers keep only one of them)."""
    sections = list(sections)
    keys = [*meta, *(s.name or s.title for s in sections)]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate JSON keys in a report: {sorted(keys)}")
    out.write("{\n")
    for key, value in meta.items():
        out.write(f"  {json.dumps(key)}: {json.dumps(jsonable(value))},\n")
    for n, section in enumerate(sections):
        out.write(f"  {json.dumps(section.name or section.title)}: [")
        first = True
        keys = [c.key for c in section.columns]
        for values in _values(section):
            out.write("\n    " if first else ",\n    ")
            out.write(_ROW_ENCODER.encode(dict(zip(keys, values, strict=True))))
            first = False
        out.write("\n  ]" if not first else "]")
        out.write(",\n" if n < len(sections) - 1 else "\n")
    out.write("}\n")
