"""Parser of OpenEMR's comment-directive SQL dialect (SPEC section 3).

Pure code: it turns the text of an upgrade file into blocks of statements, each
block guarded by at most one condition, and keeps line numbers for error
messages. It never talks to a database; :mod:`.runner` evaluates the conditions.

The dialect, as OpenEMR's ``upgradeFromSqlFile`` reads it:

* blank lines and lines starting with ``--`` are skipped;
* ``#If<Condition> args...`` opens a block and ``#EndIf`` closes it; blocks do not nest;
* any other line starting with ``#`` is a comment (the ``mysql`` client agrees);
* other lines accumulate into a statement that ends at a line ending with ``;``.

Argument splitting (OpenEMR splits on whitespace; we are quote-aware so a value
may contain spaces): every argument except the last is one whitespace-separated
token, or a quoted string ``'...'``/``"..."`` (a doubled quote inside stands for
one quote). The LAST argument is the rest of the line, with one pair of
surrounding quotes stripped. So ``#IfNotRow codes code_text Botox Cosmetic`` tests
the value ``Botox Cosmetic``, and ``#IfNotRow2D t c 'a b' c2 x y`` tests ``a b`` and
``x y``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import MigrationError

# Directive name -> number of arguments (table first).
CONDITION_ARITY: dict[str, int] = {
    "IfNotTable": 1,
    "IfTable": 1,
    "IfColumn": 2,
    "IfMissingColumn": 2,
    "IfNotIndex": 2,
    "IfIndex": 2,
    "IfNotRow": 3,
    "IfRow": 3,
    "IfNotRow2D": 5,
    "IfNotRow3D": 7,
    "IfNotColumnType": 3,
}

# Argument positions that are identifiers (table, column, index names), per directive.
_IDENTIFIER_POSITIONS: dict[str, tuple[int, ...]] = {
    "IfNotTable": (0,),
    "IfTable": (0,),
    "IfColumn": (0, 1),
    "IfMissingColumn": (0, 1),
    "IfNotIndex": (0, 1),
    "IfIndex": (0, 1),
    "IfNotRow": (0, 1),
    "IfRow": (0, 1),
    "IfNotRow2D": (0, 1, 3),
    "IfNotRow3D": (0, 1, 3, 5),
    "IfNotColumnType": (0, 1),
}

# Identifiers end up inside backticks in SQL, so only plain names are accepted.
IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
_DIRECTIVE_RE = re.compile(r"^#(If\w*|End\w*)(?:\s+(.*))?$")


@dataclass(frozen=True)
class Condition:
    """One ``#If...`` directive: its kind (e.g. ``IfNotTable``) and arguments."""

    kind: str
    args: tuple[str, ...]
    line: int
    text: str

    @property
    def table(self) -> str:
        return self.args[0]

    def row_criteria(self) -> tuple[tuple[str, str], ...]:
        """For the ``Row`` conditions: (column, value) pairs to match."""
        rest = self.args[1:]
        return tuple((rest[i], rest[i + 1]) for i in range(0, len(rest), 2))


@dataclass(frozen=True)
class Statement:
    """One SQL statement (without its final ``;``) and the line it starts on."""

    sql: str
    line: int


@dataclass(frozen=True)
class Block:
    """Statements guarded by one condition (``None``: always run)."""

    condition: Condition | None
    statements: tuple[Statement, ...]
    line: int


@dataclass(frozen=True)
class ParsedFile:
    """The blocks of one upgrade file, in file order."""

    name: str
    blocks: tuple[Block, ...]

    @property
    def statements(self) -> tuple[Statement, ...]:
        return tuple(s for b in self.blocks for s in b.statements)


def split_arguments(text: str, count: int) -> list[str]:
    """Split directive arguments: ``count - 1`` tokens, then the rest of the line.

    Raises ``ValueError`` when there are too few arguments or a quote is not closed.
    """
    args: list[str] = []
    rest = text.strip()
    for _ in range(count - 1):
        if not rest:
            raise ValueError(f"expected {count} argument(s)")
        if rest[0] in "'\"":
            token, rest = _take_quoted(rest)
        else:
            parts = rest.split(None, 1)
            token, rest = parts[0], (parts[1] if len(parts) > 1 else "")
        args.append(token)
        rest = rest.lstrip()
    if not rest:
        raise ValueError(f"expected {count} argument(s)")
    args.append(_strip_quotes(rest.strip()))
    return args


def _take_quoted(text: str) -> tuple[str, str]:
    """Read one quoted token from the start of ``text``; return it and the rest."""
    quote = text[0]
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:  # doubled quote = literal quote
                out.append(quote)
                i += 2
                continue
            rest = text[i + 1 :]
            if rest and not rest[0].isspace():
                raise ValueError("a closing quote must be followed by a space")
            return "".join(out), rest
        out.append(ch)
        i += 1
    raise ValueError("unterminated quoted value")


def _strip_quotes(value: str) -> str:
    """Remove one pair of matching surrounding quotes (the rest-of-line value)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].replace(value[0] * 2, value[0])
    return value


def parse_condition(
    directive: str, argtext: str, *, filename: str, line: int, raw: str
) -> Condition:
    """Build a :class:`Condition` from a directive name and its argument text."""
    arity = CONDITION_ARITY.get(directive)
    if arity is None:
        raise MigrationError(
            f"unknown directive #{directive}", filename=filename, line=line, statement=raw
        )
    try:
        args = split_arguments(argtext, arity)
    except ValueError as exc:
        raise MigrationError(
            f"malformed #{directive}: {exc}", filename=filename, line=line, statement=raw
        ) from None
    for pos in _IDENTIFIER_POSITIONS[directive]:
        if not IDENTIFIER_RE.match(args[pos]):
            raise MigrationError(
                f"#{directive}: invalid identifier {args[pos]!r}",
                filename=filename,
                line=line,
                statement=raw,
            )
    return Condition(kind=directive, args=tuple(args), line=line, text=raw)


# long: one pass over the lines, a small state machine (block, statement, delimiter)
def parse_sql(text: str, filename: str) -> ParsedFile:
    """Parse the text of an upgrade (or sample data) file into blocks."""
    blocks: list[Block] = []
    condition: Condition | None = None
    block_statements: list[Statement] = []
    block_line = 0
    current: list[str] = []
    current_line = 0

    def flush_unguarded() -> None:
        nonlocal block_statements
        if block_statements:
            blocks.append(Block(None, tuple(block_statements), block_statements[0].line))
            block_statements = []

    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        stripped = raw_line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        if stripped.startswith("#"):
            match = _DIRECTIVE_RE.match(stripped)
            if match is None:
                continue  # a comment, as for the mysql client
            if current:
                raise MigrationError(
                    "statement not terminated with ';' before a directive",
                    filename=filename,
                    line=current_line,
                    statement="\n".join(current),
                )
            name, argtext = match.group(1), match.group(2) or ""
            if name == "EndIf":
                if condition is None:
                    raise MigrationError(
                        "#EndIf without an open #If block",
                        filename=filename,
                        line=lineno,
                        statement=stripped,
                    )
                blocks.append(Block(condition, tuple(block_statements), block_line))
                condition, block_statements = None, []
                continue
            if name.startswith("End"):
                raise MigrationError(
                    f"unknown directive #{name}", filename=filename, line=lineno, statement=stripped
                )
            if condition is not None:
                raise MigrationError(
                    f"#{name} inside the #{condition.kind} block opened on line {condition.line} "
                    "(blocks do not nest; close it with #EndIf)",
                    filename=filename,
                    line=lineno,
                    statement=stripped,
                )
            parsed = parse_condition(name, argtext, filename=filename, line=lineno, raw=stripped)
            flush_unguarded()
            condition, block_line = parsed, lineno
            continue
        if not current:
            current_line = lineno
        current.append(raw_line.rstrip())
        if stripped.endswith(";"):
            sql = "\n".join(current).rstrip()
            sql = sql[: len(sql) - 1].rstrip()  # drop the final ';'
            block_statements.append(Statement(sql, current_line))
            current = []

    if current:
        raise MigrationError(
            "statement not terminated with ';' at end of file",
            filename=filename,
            line=current_line,
            statement="\n".join(current),
        )
    if condition is not None:
        raise MigrationError(
            f"#{condition.kind} block not closed with #EndIf",
            filename=filename,
            line=condition.line,
            statement=condition.text,
        )
    flush_unguarded()
    return ParsedFile(name=filename, blocks=tuple(blocks))
