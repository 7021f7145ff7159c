"""The directive parser: every directive, argument splitting and every error path."""

from __future__ import annotations

import pytest
from aesthetic_inventory.errors import MigrationError
from aesthetic_inventory.migrations.directives import (
    CONDITION_ARITY,
    parse_sql,
    split_arguments,
)
from aesthetic_inventory.migrations.runner import describe

ARGS = {
    "IfNotTable": "t",
    "IfTable": "t",
    "IfColumn": "t c",
    "IfMissingColumn": "t c",
    "IfNotIndex": "t i",
    "IfIndex": "t i",
    "IfNotRow": "t c some value",
    "IfRow": "t c 'quoted value'",
    "IfNotRow2D": "t c 'a b' c2 x y",
    "IfNotRow3D": "t c v c2 \"it''s\" c3 last one",
    "IfNotColumnType": "t c varchar(255)",
}
EXPECTED = {
    "IfNotTable": ("t",),
    "IfTable": ("t",),
    "IfColumn": ("t", "c"),
    "IfMissingColumn": ("t", "c"),
    "IfNotIndex": ("t", "i"),
    "IfIndex": ("t", "i"),
    "IfNotRow": ("t", "c", "some value"),
    "IfRow": ("t", "c", "quoted value"),
    "IfNotRow2D": ("t", "c", "a b", "c2", "x y"),
    "IfNotRow3D": ("t", "c", "v", "c2", "it''s", "c3", "last one"),
    "IfNotColumnType": ("t", "c", "varchar(255)"),
}


def test_every_directive_is_covered() -> None:
    assert set(ARGS) == set(CONDITION_ARITY)


@pytest.mark.parametrize("kind", sorted(CONDITION_ARITY))
def test_each_directive_parses(kind: str) -> None:
    text = f"-- header\n\n#{kind} {ARGS[kind]}\nSELECT 1;\n#EndIf\n"
    parsed = parse_sql(text, "x.sql")
    (block,) = parsed.blocks
    assert block.condition is not None
    assert block.condition.kind == kind
    assert block.condition.args == EXPECTED[kind]
    assert block.condition.line == 3
    assert [s.sql for s in block.statements] == ["SELECT 1"]
    assert block.statements[0].line == 4


@pytest.mark.parametrize("kind", sorted(CONDITION_ARITY))
def test_each_directive_rejects_missing_arguments(kind: str) -> None:
    few = " ".join(["t"] * (CONDITION_ARITY[kind] - 1))
    with pytest.raises(MigrationError, match="x.sql:1: malformed"):
        parse_sql(f"#{kind} {few}\nSELECT 1;\n#EndIf\n", "x.sql")


def test_multiline_statements_comments_and_unguarded_blocks() -> None:
    text = (
        "# a comment like the mysql client\n"
        "CREATE TABLE a (\n"
        "  id int -- inline\n"
        ");\n"
        "-- skipped\n"
        "#IfNotRow t c v\n"
        "INSERT INTO t VALUES ('x;y', '50%');\n"
        "UPDATE t SET c = 1;\n"
        "#EndIf\n"
        "SELECT 2;\n"
    )
    parsed = parse_sql(text, "f.sql")
    assert [b.condition is None for b in parsed.blocks] == [True, False, True]
    assert parsed.blocks[0].statements[0].sql == "CREATE TABLE a (\n  id int -- inline\n)"
    assert parsed.blocks[0].statements[0].line == 2
    assert [s.line for s in parsed.blocks[1].statements] == [7, 8]
    assert parsed.blocks[2].statements[0].sql == "SELECT 2"


def test_empty_block_is_allowed() -> None:
    parsed = parse_sql("#IfTable t\n#EndIf\n", "f.sql")
    assert parsed.blocks[0].statements == ()


def test_split_arguments_rest_of_line_and_quotes() -> None:
    assert split_arguments("t c Botox Cosmetic 100U", 3) == ["t", "c", "Botox Cosmetic 100U"]
    assert split_arguments('t c "a b"', 3) == ["t", "c", "a b"]
    assert split_arguments("t 'c d' e", 3) == ["t", "c d", "e"]
    assert split_arguments("t 'it''s' e", 3) == ["t", "it's", "e"]
    with pytest.raises(ValueError, match="unterminated"):
        split_arguments("t 'open e", 3)
    with pytest.raises(ValueError, match="followed by a space"):
        split_arguments("t 'a'b e", 3)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("#IfBogus t\nSELECT 1;\n#EndIf\n", 1, "unknown directive #IfBogus"),
        ("#IfTable t\nSELECT 1;\n#EndBlock\n", 3, "unknown directive #EndBlock"),
        ("#IfTable t\n#IfTable u\n#EndIf\n", 2, "blocks do not nest"),
        ("SELECT 1;\n#EndIf\n", 2, "#EndIf without an open #If"),
        ("SELECT 1;\n#IfTable t\nSELECT 2;\n", 2, "not closed with #EndIf"),
        ("SELECT 1;\nSELECT 2\n", 2, "not terminated with ';' at end of file"),
        ("#IfTable t\nSELECT 2\n#EndIf\n", 2, "not terminated with ';' before a directive"),
        ("#IfTable bad-name\n#EndIf\n", 1, "invalid identifier"),
        ("#IfNotRow t `c` v\n#EndIf\n", 1, "invalid identifier"),
    ],
)
def test_parse_errors_name_file_line_and_statement(text: str, line: int, message: str) -> None:
    with pytest.raises(MigrationError, match=message) as info:
        parse_sql(text, "bad.sql")
    assert info.value.filename == "bad.sql"
    assert info.value.line == line
    assert info.value.statement
    assert str(info.value).startswith(f"bad.sql:{line}: ")


@pytest.mark.parametrize(
    ("sql", "done", "planned"),
    [
        ("CREATE TABLE IF NOT EXISTS `t` (id int)", "created table t", "create table t"),
        ("ALTER TABLE `t` ADD COLUMN `c` int", "altered table t (add c)", "alter table t (add c)"),
        ("ALTER TABLE t ENGINE=InnoDB", "altered table t", "alter table t"),
        ("CREATE UNIQUE INDEX i ON t (c)", "created index t.i", "create index t.i"),
        ("INSERT INTO `t` SELECT 1", "inserted 2 row(s) into t", "insert into t"),
        ("UPDATE t SET c = 1", "updated 2 row(s) in t", "update t"),
        ("DELETE FROM t", "deleted 2 row(s) from t", "delete from t"),
        ("DROP TABLE IF EXISTS t", "dropped table t", "drop table t"),
        ("SET @x = 1", "SET @x =", "SET @x ="),
    ],
)
def test_describe_statements(sql: str, done: str, planned: str) -> None:
    assert describe(sql, 2) == done
    assert describe(sql, planned=True) == planned
