"""The requirement catalog: the packaged file is valid, and a bad file says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.catalog import CatalogError, default_catalog, load_catalog


def test_packaged_catalog() -> None:
    catalog = default_catalog()
    card = catalog.for_suite("card")
    assert 50 <= len(card) <= 100
    assert catalog["CARD-PIN-004"].destructive
    assert catalog["CARD-PIN-008"].profiles == ["virtual"]
    assert catalog["CARD-SEL-001"].report_profiles() == ["virtual", "physical", "read-only"]
    assert "CARD-NOPE-001" not in catalog
    assert catalog.get("CARD-NOPE-001") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('id = "card-1"', "requirement #1 (card-1), id: Value error, an ID is upper-case"),
        ('id = "CARD-X-001"\nstatement = ""', "statement: Value error, must not be blank"),
        ('id = "CARD-X-001"\nprofiles = ["cloud"]', "profiles.0: Input should be 'virtual'"),
        ('id = "CARD-X-001"\nprofiles = []', "profiles: List should have at least 1 item"),
        ('id = "CARD-X-001"\nsource = 3', "source: Input should be a valid string"),
        ('id = "CARD-X-001"\ncolour = "red"', "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_entry_names_field_and_reason(tmp_path: Path, entry: str, message: str) -> None:
    defaults = {
        "id": '"CARD-X-001"',
        "statement": '"s"',
        "source": '"x"',
        "profiles": '["virtual"]',
    }
    lines = dict(line.split(" = ", 1) for line in entry.splitlines())
    fields = {**defaults, **lines}
    path = tmp_path / "catalog.toml"
    path.write_text("[[requirement]]\n" + "\n".join(f"{k} = {v}" for k, v in fields.items()))
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_duplicate_and_missing_fields(tmp_path: Path) -> None:
    one = 'id = "CARD-X-001"\nstatement = "s"\nsource = "x"\nprofiles = ["virtual"]\n'
    path = tmp_path / "catalog.toml"
    path.write_text(f"[[requirement]]\n{one}\n[[requirement]]\n{one}")
    with pytest.raises(CatalogError, match="CARD-X-001 is defined twice"):
        load_catalog(path)
    path.write_text('[[requirement]]\nid = "CARD-X-001"\n')
    with pytest.raises(
        CatalogError, match=r"requirement #1 \(CARD-X-001\), statement: Field required"
    ):
        load_catalog(path)
    path.write_text("[[requirement]\n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(path)
