"""`mappings list|add|set|remove|import|export`: validation with one line and nothing
written, warnings, duplicates, all-or-nothing import, export -> edit -> import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    return result.exit_code, result.stdout, result.stderr


def mappings(clinic: Clinic) -> list[tuple]:
    return clinic.rows("SELECT code_type, code, drug_id, quantity + 0 FROM procedure_products "
                       "ORDER BY code_type, code, drug_id")


@pytest.fixture
def products(clinic: Clinic) -> dict[str, int]:
    clinic.execute("INSERT INTO codes (code, code_text, code_type) VALUES "
                   "('15828', 'Botox', 1), ('11950', 'Filler', 1), ('J0585', 'Toxin', 3)")
    return {
        "botox": clinic.add_drug("Botox Cosmetic 100U"),
        "filler": clinic.add_drug("Filler 1mL"),
        "old": clinic.add_drug("Old toxin", active=0),
        "rx": clinic.add_drug("Script only", dispensable=0),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quantity", "-1"], "quantity must be greater than 0, got -1"),
        (["--quantity", "0"], "quantity must be greater than 0, got 0"),
        (["--quantity", "nan"], "quantity must be a finite number"),
        (["--quantity", "inf"], "quantity must be a finite number"),
        (["--quantity", "abc"], "quantity must be a number"),
        (["--product", "999"], "no product 999"),
        (["--product", "Nope"], "no product 'Nope'"),
        (["--code-type", "XYZ"], "unknown code type 'XYZ' (not in code_types)"),
    ],
)
def test_add_refuses_bad_input_and_writes_nothing(
    migrated_db_url: str, clinic: Clinic, products: dict[str, int], args: list[str],
    message: str,
) -> None:
    base = {"--code-type": "CPT4", "--code": "15828", "--product": str(products["botox"]),
            "--quantity": "1"}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    code, out, err = run(migrated_db_url, "mappings", "add", *flat)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and message in err and "nothing was changed" in err
    assert mappings(clinic) == []


def test_add_warns_and_refuses_duplicates(migrated_db_url: str, clinic: Clinic,
                                          products: dict[str, int]) -> None:
    code, out, err = run(migrated_db_url, "mappings", "add", "--code-type", "CPT4", "--code",
                         "15828", "--product", "Botox Cosmetic 100U", "--quantity", "1.5")
    assert code == 0 and err == ""
    assert out.startswith("added mapping ") and "x 1.5" in out
    code, out, err = run(migrated_db_url, "mappings", "add", "--code-type", "CPT4", "--code",
                         "15828", "--product", str(products["botox"]), "--quantity", "2")
    assert code == 1 and "already mapped" in err and "mappings set" in err
    code, out, err = run(migrated_db_url, "mappings", "add", "--code-type", "CPT4", "--code",
                         "99999", "--product", str(products["old"]), "--quantity", "1")
    assert code == 0
    assert "is inactive" in err and "CPT4 99999 is not in the codes table" in err
    code, out, err = run(migrated_db_url, "mappings", "add", "--code-type", "HCPCS", "--code",
                         "J0585", "--product", "Script only", "--quantity", "3")
    assert code == 0 and "not dispensable" in err
    assert mappings(clinic) == [
        ("CPT4", "15828", products["botox"], 1.5), ("CPT4", "99999", products["old"], 1),
        ("HCPCS", "J0585", products["rx"], 3)]
    code, out, _ = run(migrated_db_url, "mappings", "list", "--json")
    assert [(m["code"], m["product"], m["quantity"]) for m in json.loads(out)] == [
        ("15828", "Botox Cosmetic 100U", 1.5), ("99999", "Old toxin", 1),
        ("J0585", "Script only", 3)]


def test_set_and_remove(migrated_db_url: str, clinic: Clinic, products: dict[str, int]) -> None:
    mid = clinic.add_mapping("15828", products["botox"], "1")
    code, out, err = run(migrated_db_url, "mappings", "set", "--id", str(mid), "--quantity",
                         "2.25")
    assert code == 0 and "quantity 1 -> 2.25" in out
    code, _, err = run(migrated_db_url, "mappings", "set", "--id", str(mid), "--quantity", "-3")
    assert code == 1 and "greater than 0" in err
    code, out, err = run(migrated_db_url, "mappings", "set", "--code-type", "CPT4", "--code",
                         "15828", "--product", "Botox Cosmetic 100U", "--quantity", "3")
    assert code == 0, err
    assert mappings(clinic) == [("CPT4", "15828", products["botox"], 3)]
    code, _, err = run(migrated_db_url, "mappings", "remove", "--id", "9999")
    assert code == 1 and "no mapping with id 9999" in err
    code, _, err = run(migrated_db_url, "mappings", "remove", "--code", "15828")
    assert code == 2
    code, out, _ = run(migrated_db_url, "mappings", "remove", "--id", str(mid))
    assert code == 0 and out.startswith(f"removed mapping {mid}")
    assert mappings(clinic) == []


def test_import_is_all_or_nothing_and_dry_run_writes_nothing(
    migrated_db_url: str, clinic: Clinic, products: dict[str, int], tmp_path: Path
) -> None:
    clinic.add_mapping("15828", products["botox"], "1")
    before = mappings(clinic)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code_type,code,product_id,product,quantity\n"
        f"CPT4,11950,{products['filler']},,1\n"
        "CPT4,15828,,Botox Cosmetic 100U,-2\n"
        f"CPT4,11950,{products['filler']},,3\n", encoding="utf-8")
    code, out, err = run(migrated_db_url, "mappings", "import", str(bad))
    assert code == 1
    assert f"{bad}:3: quantity must be greater than 0" in err
    assert f"{bad}:4: duplicate of line 2" in err and "nothing was changed" in err
    assert mappings(clinic) == before
    good = tmp_path / "good.csv"
    good.write_text(
        "code_type,code,product_id,product,quantity\n"
        f"CPT4,11950,{products['filler']},,1\n"
        "CPT4,15828,,Botox Cosmetic 100U,2\n"
        "CPT4,77777,,Filler 1mL,1\n", encoding="utf-8")
    code, out, err = run(migrated_db_url, "mappings", "import", str(good), "--dry-run")
    assert code == 0, err
    assert "add     CPT4 11950" in out and "update  CPT4 15828" in out and "1 -> 2" in out
    assert ("Dry run: would apply 2 add, 1 update, 0 remove, 0 unchanged; "
            "nothing was written.") in out
    assert "CPT4 77777 is not in the codes table" in err
    assert mappings(clinic) == before
    code, out, err = run(migrated_db_url, "mappings", "import", str(good))
    assert code == 0 and "Imported" in out
    assert mappings(clinic) == [("CPT4", "11950", products["filler"], 1),
                                ("CPT4", "15828", products["botox"], 2),
                                ("CPT4", "77777", products["filler"], 1)]
    code, out, _ = run(migrated_db_url, "mappings", "import", str(good))
    assert "0 add, 0 update, 0 remove, 3 unchanged" in out
    bad_header = tmp_path / "h.csv"
    bad_header.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _, err = run(migrated_db_url, "mappings", "import", str(bad_header))
    assert code == 1 and "the header must have" in err


def test_export_edit_import_round_trips(migrated_db_url: str, clinic: Clinic,
                                        products: dict[str, int], tmp_path: Path) -> None:
    clinic.add_mapping("15828", products["botox"], "1.5")
    clinic.add_mapping("11950", products["filler"], "1")
    clinic.add_mapping("J0585", products["botox"], "0.25", code_type="HCPCS")
    path = tmp_path / "m.csv"
    code, _, err = run(migrated_db_url, "mappings", "export", "--output", str(path))
    assert code == 0 and "wrote 3 mapping(s)" in err
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "code_type,code,product_id,product,quantity"
    assert f"CPT4,15828,{products['botox']},Botox Cosmetic 100U,1.5" in text
    # unchanged file: nothing to do
    code, out, _ = run(migrated_db_url, "mappings", "import", str(path))
    assert "0 add, 0 update, 0 remove, 3 unchanged" in out
    # edit: change one quantity, drop one row, import with --replace
    lines = text.splitlines()
    edited = [ln.replace(",1.5", ",2") if "15828" in ln else ln for ln in lines
              if "11950" not in ln]
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")
    code, out, err = run(migrated_db_url, "mappings", "import", str(path), "--replace")
    assert code == 0, err
    assert "1 update, 1 remove, 1 unchanged" in out
    assert mappings(clinic) == [("CPT4", "15828", products["botox"], 2),
                                ("HCPCS", "J0585", products["botox"], 0.25)]
    code, out, _ = run(migrated_db_url, "mappings", "export")
    assert out == path.read_text(encoding="utf-8")


def test_export_makes_a_formula_product_name_safe_and_still_round_trips(
        migrated_db_url: str, clinic: Clinic, tmp_path: Path) -> None:
    """Issue 17 D: a product named like a formula is exported with a leading apostrophe;
    the import reads product_id, so the file still imports unchanged."""
    drug = clinic.add_drug("=HYPERLINK(\"http://x\")")
    clinic.add_mapping("99999", drug, "2")
    path = tmp_path / "m.csv"
    code, _, err = run(migrated_db_url, "mappings", "export", "--output", str(path))
    assert code == 0, err
    text = path.read_text(encoding="utf-8")
    assert f"CPT4,99999,{drug},\"'=HYPERLINK(\"\"http://x\"\")\",2" in text
    code, out, err = run(migrated_db_url, "mappings", "import", str(path))
    assert code == 0 and "0 add, 0 update, 0 remove, 1 unchanged" in out, out + err
