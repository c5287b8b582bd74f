"""Tests of the synthetic registers: formats a data officer would recognise, valid ids, and a
truth file that tells the matcher's quality tests exactly what was planted."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from stdnum import luhn
from stdnum.se import personnummer

from synthetic import SyntheticError
from synthetic.registers import (
    CASE_KINDS,
    EXPECTATIONS,
    TRUTH_COLUMNS,
    VARIANT_SUBKINDS,
    SyntheticSet,
    generate,
)

AS_OF = date(2026, 11, 1)

# The headers exactly as the brief (and the mapping suggester's tests) spell them.
LINBO = [
    "Löpnr",
    "Kontraktsnr",
    "Personnummer",
    "Förnamn",
    "Efternamn",
    "Gatuadress",
    "Postnr",
    "Ort",
    "Lgh nr",
    "Objekttyp",
    "Fr.o.m.",
    "T.o.m.",
    "Telefon",
    "E-post",
    "Roll",
    "Andrahandsuthyrning godkänd",
    "Skyddad identitet",
]
NORRHEM = [
    "ID",
    "Personnr",
    "Namn",
    "Adress",
    "Postnummer",
    "Postort",
    "Lägenhetsnummer",
    "Kontraktsnummer",
    "Inflyttning",
    "Avflyttning",
    "Objekttyp",
    "Mobil",
    "Epost",
    "Skyddad",
]
MOTABO = [
    "Record ID",
    "National ID",
    "First name",
    "Last name",
    "Street address",
    "Postal code",
    "City",
    "Apartment no",
    "Contract no",
    "Start date",
    "End date",
    "Contract type",
    "Phone",
    "Email",
    "Tenant role",
    "Sublet approved",
    "Protected identity",
]

TYPES = {
    "Bostad": "residential",
    "Studentbostad": "student",
    "P-plats": "parking",
    "Lägenhet": "residential",
    "Student": "student",
    "Parkering": "parking",
    "Förråd": "storage",
    "Lokal": "commercial",
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSet:
    return generate(tmp_path_factory.mktemp("synth"), companies=3, records=3000, seed=7)


@pytest.fixture(scope="module")
def registers(synth: SyntheticSet) -> pl.DataFrame:
    return pl.concat([_load(c.company_id, c.export) for c in synth.companies])


@pytest.fixture(scope="module")
def truth(synth: SyntheticSet) -> pl.DataFrame:
    return pl.read_csv(synth.truth, infer_schema=False)


def _century_12(ten: str) -> str:
    """YYMMDD-NNNC / YYMMDD+NNNC -> YYYYMMDDNNNC, century from the extract date."""
    yy = int(ten[:2])
    year = 2000 + yy if 2000 + yy <= AS_OF.year else 1900 + yy
    if ten[6] == "+":
        year -= 100
    return f"{year}{ten[2:6]}{ten[7:]}"


def _load(company: str, path: Path) -> pl.DataFrame:
    """One export in a common shape: company, record_id, pnr (12 digits), names, contract."""
    if path.suffix == ".xlsx":
        raw = pl.read_excel(path, sheet_name="Hyresgäster")
        names = raw["Namn"].str.split_exact(", ", 1)
        return raw.select(
            pl.lit(company).alias("company"),
            pl.col("ID").cast(pl.String).alias("record_id"),
            pl.col("Personnr").alias("pnr"),
            names.struct.field("field_1").alias("first"),
            names.struct.field("field_0").alias("last"),
            pl.col("Inflyttning").alias("start"),
            pl.col("Avflyttning").alias("end"),
            pl.col("Objekttyp").replace_strict(TYPES).alias("ctype"),
            pl.lit(None, pl.String).alias("role"),
            (pl.col("Skyddad") == "J").alias("protected"),
            pl.col("Kontraktsnummer").alias("contract"),
        )
    data = path.read_bytes()
    if data.startswith("Löpnr".encode("cp1252")):
        raw = pl.read_csv(
            io.BytesIO(data.decode("cp1252").encode()), separator=";", infer_schema=False
        )
        return raw.select(
            pl.lit(company).alias("company"),
            pl.col("Löpnr").alias("record_id"),
            pl.col("Personnummer").map_elements(_century_12, pl.String).alias("pnr"),
            pl.col("Förnamn").alias("first"),
            pl.col("Efternamn").alias("last"),
            pl.col("Fr.o.m.").str.to_date("%Y-%m-%d").alias("start"),
            pl.col("T.o.m.").str.to_date("%Y-%m-%d").alias("end"),
            pl.col("Objekttyp").replace_strict(TYPES).alias("ctype"),
            pl.col("Roll").replace_strict(
                {"Huvudhyresgäst": "primary", "Medhyresgäst": "co_tenant"}
            ),
            (pl.col("Skyddad identitet") == "Ja").fill_null(False).alias("protected"),
            pl.col("Kontraktsnr").alias("contract"),
        ).rename({"Roll": "role"})
    raw = pl.read_csv(io.BytesIO(data), infer_schema=False)
    return raw.select(
        pl.lit(company).alias("company"),
        pl.col("Record ID").alias("record_id"),
        pl.col("National ID").str.replace("-", "").alias("pnr"),
        pl.col("First name").alias("first"),
        pl.col("Last name").alias("last"),
        pl.col("Start date").str.to_date("%d/%m/%Y").alias("start"),
        pl.col("End date").str.to_date("%d/%m/%Y").alias("end"),
        pl.col("Contract type").alias("ctype"),
        pl.col("Tenant role").alias("role"),
        (pl.col("Protected identity") == "true").alias("protected"),
        pl.col("Contract no").alias("contract"),
    )


def _valid_12(pnr: str) -> bool:
    """stdnum's check; a samordningsnummer (day + 60), which stdnum rejects by design, passes
    when its Luhn digit is right and its day minus 60 is a real birth date."""
    day = int(pnr[6:8])
    if day <= 60:
        return bool(personnummer.is_valid(pnr))
    try:
        date(int(pnr[:4]), int(pnr[4:6]), day - 60)
    except ValueError:
        return False
    return bool(luhn.is_valid(pnr[2:]))


def _case_rows(registers: pl.DataFrame, truth: pl.DataFrame, kind: str) -> pl.DataFrame:
    return truth.filter(pl.col("kind") == kind).join(
        registers, on=["company", "record_id"], how="left"
    )


def _overlap_days(a: pl.DataFrame) -> list[int]:
    """Days two contracts of one case share, open ends running to the extract date."""
    out = []
    for _, group in a.group_by("case_id", maintain_order=True):
        starts = group["start"].to_list()
        ends = [e or AS_OF for e in group["end"].to_list()]
        out.append((min(ends) - max(starts)).days + 1)
    return out


# --- reproducibility ---------------------------------------------------------------------


def _bytes(s: SyntheticSet) -> list[bytes]:
    return [c.export.read_bytes() for c in s.companies] + [s.truth.read_bytes()]


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", records=400, seed=3)
    two = generate(tmp_path / "b", records=400, seed=3)
    other = generate(tmp_path / "c", records=400, seed=4)
    assert _bytes(one) == _bytes(two)
    assert all(x != y for x, y in zip(_bytes(one), _bytes(other), strict=True))


# --- formats -----------------------------------------------------------------------------


def test_each_company_has_its_layout_and_exact_headers(synth: SyntheticSet) -> None:
    linbo, norrhem, motabo = synth.companies
    assert [(c.company_id, c.format) for c in synth.companies] == [
        ("linbo", "csv"),
        ("norrhem", "xlsx"),
        ("motabo", "csv"),
    ]
    assert linbo.name == "Linbo Bostäder"
    assert linbo.export.read_bytes().decode("cp1252").split("\r\n")[0].split(";") == LINBO
    assert pl.read_excel(norrhem.export, sheet_name="Hyresgäster").columns == NORRHEM
    assert motabo.export.read_text("utf-8").splitlines()[0].split(",") == MOTABO


def test_linbo_is_windows_1252_with_semicolons_and_10_digit_ids(synth: SyntheticSet) -> None:
    data = synth.companies[0].export.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # ö and ä as single cp1252 bytes, as an old Windows export has them
    frame = pl.read_csv(
        io.BytesIO(data.decode("cp1252").encode()), separator=";", infer_schema=False
    )
    assert frame["Personnummer"].str.contains(r"^\d{6}[-+]\d{4}$").all()
    assert frame["Postnr"].str.contains(r"^5\d\d \d\d$").all()
    assert frame["Fr.o.m."].str.contains(r"^\d{4}-\d\d-\d\d$").all()
    assert set(frame["Roll"]) == {"Huvudhyresgäst", "Medhyresgäst"}
    assert set(frame["Objekttyp"]) <= {"Bostad", "Studentbostad", "P-plats", "Förråd", "Lokal"}
    assert set(frame["Skyddad identitet"].drop_nulls()) == {"Ja"}
    phones = frame["Telefon"].drop_nulls()
    assert phones.str.contains(r"^(07\d-\d{3} \d\d \d\d|013-\d\d \d\d \d\d)$").all()
    assert phones.str.starts_with("07").any() and phones.str.starts_with("013").any()


def test_norrhem_is_an_xlsx_with_text_ids_and_real_dates(synth: SyntheticSet) -> None:
    frame = pl.read_excel(synth.companies[1].export, sheet_name="Hyresgäster")
    assert frame.schema["Personnr"] == pl.String
    assert frame["Personnr"].str.contains(r"^\d{12}$").all()
    assert frame.schema["Inflyttning"] == pl.Date and frame.schema["Avflyttning"] == pl.Date
    assert frame["Namn"].str.contains(r"^[^,]+, [^,]+$").all()
    assert set(frame["Skyddad"]) == {"J", "N"}
    assert frame["ID"].n_unique() >= frame.height - 10  # unique but for planted duplicates


def test_motabo_uses_english_values_and_day_first_dates(synth: SyntheticSet) -> None:
    frame = pl.read_csv(synth.companies[2].export, infer_schema=False)
    assert frame["National ID"].str.contains(r"^\d{8}-\d{4}$").all()
    assert frame["Start date"].str.contains(r"^\d\d/\d\d/\d{4}$").all()
    assert set(frame["Contract type"]) == {
        "residential",
        "student",
        "parking",
        "storage",
        "commercial",
    }
    assert set(frame["Tenant role"]) == {"primary", "co_tenant"}
    assert set(frame["Sublet approved"]) == {"true", "false"}
    assert frame["Phone"].drop_nulls().str.contains(r"^\+46\d{8,9}$").all()


def test_each_export_has_the_requested_number_of_rows(synth: SyntheticSet) -> None:
    for company in synth.companies:
        assert _load(company.company_id, company.export).height == 3000


def test_fast_formats_writes_csv_only_and_reports_progress(tmp_path: Path) -> None:
    seen: list[int] = []
    result = generate(tmp_path, records=500, fast_formats=True, progress=seen.append)
    assert [c.format for c in result.companies] == ["csv", "csv"]
    norrhem = pl.read_csv(result.companies[1].export, separator=";", infer_schema=False)
    assert norrhem.columns == NORRHEM
    assert norrhem["Personnr"].str.contains(r"^\d{12}$").all()
    assert sum(seen) == 1000


def test_more_than_three_companies_cycle_the_layouts(tmp_path: Path) -> None:
    result = generate(tmp_path, companies=4, records=200, seed=2)
    fourth = result.companies[3]
    assert (fourth.company_id, fourth.format) == ("bolag4", "csv")
    header = fourth.export.read_bytes().decode("cp1252").split("\r\n")[0]
    assert header.split(";") == LINBO
    companies = set(pl.read_csv(result.truth, infer_schema=False)["company"])
    assert "bolag4" in companies


def test_fewer_than_two_companies_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SyntheticError, match="at least 2 companies"):
        generate(tmp_path, companies=1)


# --- identities --------------------------------------------------------------------------


def test_every_personnummer_is_valid_except_the_planted_invalid_ones(
    registers: pl.DataFrame, truth: pl.DataFrame
) -> None:
    invalid = truth.filter(pl.col("kind") == "invalid_id").select("company", "record_id")
    marked = registers.join(invalid, on=["company", "record_id"], how="semi")
    rest = registers.join(invalid, on=["company", "record_id"], how="anti")
    assert marked.height == invalid.height
    assert all(_valid_12(p) for p in rest["pnr"])
    assert not any(_valid_12(p) for p in marked["pnr"])
    # Samordningsnummer exist (~1 %) and are valid after the day correction.
    coordination = rest.filter(pl.col("pnr").str.slice(6, 2).cast(pl.Int32) > 60)
    assert 0.003 < coordination.height / rest.height < 0.03


def test_ages_are_adult_except_planted_minors(registers: pl.DataFrame, truth: pl.DataFrame) -> None:
    valid = registers.join(
        truth.filter(pl.col("kind") == "invalid_id"), on=["company", "record_id"], how="anti"
    )

    def age(pnr: str) -> float:
        day = int(pnr[6:8])
        born = date(int(pnr[:4]), int(pnr[4:6]), day - 60 if day > 60 else day)
        return (AS_OF - born).days / 365.25

    aged = valid.with_columns(age=pl.col("pnr").map_elements(age, pl.Float64))
    minors = truth.filter(pl.col("kind") == "minor").select("company", "record_id")
    young = aged.filter(pl.col("age") < 18).select("company", "record_id")
    assert sorted(young.rows()) == sorted(minors.rows())
    assert max(aged["age"].to_list()) < 105
    # A few centenarians, so that linbo's "YYMMDD+NNNC" form is exercised.
    assert aged.filter(pl.col("age") >= 100).height > 0


def test_linbo_writes_a_plus_for_people_of_100_or_more(synth: SyntheticSet) -> None:
    raw = synth.companies[0].export.read_bytes().decode("cp1252").split("\r\n")[1:-1]
    ids = [line.split(";")[2] for line in raw]
    plus = [i for i in ids if "+" in i]
    assert plus
    assert all(AS_OF.year - int(_century_12(i)[:4]) >= 100 for i in plus)
    assert all(AS_OF.year - int(_century_12(i)[:4]) < 100 for i in ids if "-" in i)


def test_background_people_never_meet_at_another_company(
    registers: pl.DataFrame, truth: pl.DataFrame
) -> None:
    background = registers.join(truth, on=["company", "record_id"], how="anti")
    per_pnr = background.group_by("pnr").agg(pl.col("company").n_unique().alias("n"))
    assert per_pnr["n"].max() == 1
    identity = background.group_by("first", "last", pl.col("pnr").str.slice(0, 8)).agg(
        pl.col("company").n_unique().alias("n")
    )
    assert identity["n"].max() == 1


def test_names_are_swedish_with_a_realistic_skew(registers: pl.DataFrame) -> None:
    surnames = registers["last"].value_counts(sort=True)
    assert set(surnames["last"].head(5)) <= {
        "Andersson",
        "Johansson",
        "Karlsson",
        "Nilsson",
        "Eriksson",
        "Larsson",
    }
    assert registers["last"].str.contains("[åäöÅÄÖ]").mean() > 0.05  # type: ignore[operator]
    assert registers["first"].str.contains("-").any()
    assert registers["last"].str.contains(" ").any()


# --- truth -------------------------------------------------------------------------------


def test_truth_names_existing_records_of_every_kind(
    registers: pl.DataFrame, truth: pl.DataFrame
) -> None:
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert set(truth["kind"]) == set(CASE_KINDS)
    assert set(truth["expect"]) == set(EXPECTATIONS)
    missing = truth.join(registers, on=["company", "record_id"], how="anti")
    assert missing.is_empty()
    variants = truth.filter(pl.col("kind") == "identity_variant")["subkind"]
    assert set(variants) == set(VARIANT_SUBKINDS)
    counts = variants.value_counts()["count"].to_list()
    assert max(counts) - min(counts) <= 2  # spread evenly
    planted_share = truth.height / registers.height
    assert planted_share < 0.08


def test_concurrent_tenancies_share_an_id_and_overlap_long(
    registers: pl.DataFrame, truth: pl.DataFrame
) -> None:
    rows = _case_rows(registers, truth, "concurrent_tenancy")
    assert set(rows["expect"]) == {"hit_exact"}
    assert set(rows["ctype"]) <= {"residential", "student"}
    for _, case in rows.group_by("case_id"):
        assert case.height == 2 and case["company"].n_unique() == 2
        assert case["pnr"].n_unique() == 1
    assert min(_overlap_days(rows)) >= 180
    assert rows["end"].is_null().any()  # some are open-ended


def test_short_moves_overlap_less_than_the_notice_rule(
    registers: pl.DataFrame, truth: pl.DataFrame
) -> None:
    rows = _case_rows(registers, truth, "short_overlap_move")
    assert set(rows["expect"]) == {"no_hit"}
    overlaps = _overlap_days(rows)
    assert min(overlaps) >= 1 and max(overlaps) <= 60
    assert all(case["pnr"].n_unique() == 1 for _, case in rows.group_by("case_id"))


def test_identity_variants_differ_in_the_planted_way(
    registers: pl.DataFrame, truth: pl.DataFrame
) -> None:
    rows = _case_rows(registers, truth, "identity_variant")
    assert min(_overlap_days(rows)) >= 180
    for (_, subkind), case in rows.group_by("case_id", "subkind"):
        a, b = case.sort("company").rows(named=True)
        assert a["pnr"] != b["pnr"], "the exact lane must not see variants"
        assert a["pnr"][:6] == b["pnr"][:6]  # same birth year and month
        names_a, names_b = (a["first"], a["last"]), (b["first"], b["last"])
        if subkind in ("id_typo", "coordination_replaced"):
            assert names_a == names_b
        elif subkind == "swapped_names":
            assert names_a == names_b[::-1]
        elif subkind == "new_surname":
            assert names_a[0] == names_b[0] and names_a[1] != names_b[1]
        else:
            assert names_a != names_b
        if subkind == "coordination_replaced":
            days = sorted(int(p[6:8]) for p in (a["pnr"], b["pnr"]))
            assert days[1] == days[0] + 60
        elif subkind == "id_typo":
            assert a["pnr"][:8] == b["pnr"][:8]
            assert sum(x != y for x, y in zip(a["pnr"][8:11], b["pnr"][8:11], strict=True)) == 1


def test_other_planted_cases_look_as_described(
    registers: pl.DataFrame, truth: pl.DataFrame
) -> None:
    co = _case_rows(registers, truth, "co_tenant")
    for _, case in co.group_by("case_id"):
        assert case["contract"].n_unique() == 1 and case["pnr"].n_unique() == 2
        assert case["company"].n_unique() == 1
    parking = _case_rows(registers, truth, "parking_storage")
    assert min(_overlap_days(parking)) >= 180
    assert set(parking["ctype"]) == {"residential", "parking", "storage"}
    protected = _case_rows(registers, truth, "protected_identity")
    assert protected.filter(pl.col("expect") == "excluded")["protected"].all()
    assert not protected.filter(pl.col("expect") == "no_hit")["protected"].any()
    # Only planted rows are protected: the background must not lose rows silently.
    assert registers["protected"].sum() == protected["protected"].sum()
    duplicates = truth.filter(pl.col("kind") == "duplicate_row")
    for company, record_id in duplicates.select("company", "record_id").rows():
        copies = registers.filter(
            (pl.col("company") == company) & (pl.col("record_id") == record_id)
        )
        assert copies.height == 2 and copies.n_unique() == 1


def test_ten_thousand_rows_per_company(tmp_path: Path) -> None:
    result = generate(tmp_path, companies=3, records=10_000, seed=11)
    sizes = [_load(c.company_id, c.export).height for c in result.companies]
    assert sizes == [10_000, 10_000, 10_000]
