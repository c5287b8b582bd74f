"""The mapping profile: writing it, reading it back, refusing what it must refuse, applying it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ForbiddenFieldError, ProfileError
from connectors.extract import RawExtract, SourceOptions, read_export
from connectors.profile import (
    Profile,
    apply_mapping,
    date_format_problem,
    forbidden_word,
    load_profile,
    render_profile,
)
from connectors.record import ROW_COLUMN

DATA = Path(__file__).resolve().parents[1] / "data"

MAPPING_A = {
    "record_id": "Löpnr",
    "national_id": "Personnummer",
    "contract_start": "Fr.o.m.",
    "contract_end": "T.o.m.",
    "first_name": "Förnamn",
    "last_name": "Efternamn",
}
MAPPING_B = {
    "record_id": "ID",
    "national_id": "Personnr",
    "contract_start": "Inflyttning",
    "full_name": "Namn",
}

ProfileFactory = Callable[..., Path]


@pytest.fixture
def write_profile(tmp_path: Path) -> ProfileFactory:
    """Write a rendered profile, optionally with extra TOML appended, and return its path."""

    def make(
        mapping: Mapping[str, str] = MAPPING_A,
        extra: str = "",
        source: SourceOptions | None = None,
        **kwargs: object,
    ) -> Path:
        text = render_profile(
            "linbo",
            "http://127.0.0.1:8000",
            mapping,
            {"contract_start": ["%Y-%m-%d", "%Y%m%d"]},
            source or SourceOptions(),
            **kwargs,  # type: ignore[arg-type]
        )
        path = tmp_path / "connector.toml"
        path.write_text(text + extra, encoding="utf-8")
        return path

    return make


def profile_text(body: str) -> str:
    return '[company]\nid = "linbo"\n[matcher]\nurl = "http://127.0.0.1:8000"\n' + body


def load_text(tmp_path: Path, body: str) -> Profile:
    path = tmp_path / "connector.toml"
    path.write_text(profile_text(body), encoding="utf-8")
    return load_profile(path)


# --- render and load -----------------------------------------------------------------------


def test_rendered_profile_loads_back_with_the_same_settings(
    write_profile: ProfileFactory, tmp_path: Path
) -> None:
    path = write_profile(
        source=SourceOptions(delimiter=";", encoding="windows-1252", sheet="Blad1", header_row=3),
        constants={"contract_type": "residential"},
        reveal_key_fingerprint="0123456789abcdef0123456789abcdef",
        contract_type_values={"Bostadsrätt": "residential"},
        tenant_role_values={"Kontraktsinnehavare": "primary"},
    )

    profile = load_profile(path)

    assert profile.company_id == "linbo"
    assert profile.matcher_url == "http://127.0.0.1:8000"
    assert dict(profile.mapping) == MAPPING_A
    assert dict(profile.constants) == {"contract_type": "residential"}
    assert profile.date_formats["contract_start"] == ("%Y-%m-%d", "%Y%m%d")
    assert profile.date_formats["contract_end"] == ("%Y-%m-%d",)
    assert profile.source == SourceOptions(
        delimiter=";", encoding="windows-1252", sheet="Blad1", header_row=3
    )
    assert profile.reveal_key_fingerprint == "0123456789abcdef0123456789abcdef"
    assert profile.contract_type_values == {"Bostadsrätt": "residential"}
    assert profile.tenant_role_values == {"Kontraktsinnehavare": "primary"}
    assert profile.national_id_scheme == "se-personnummer"
    assert profile.phone_region == "SE"
    # Key paths are relative to the profile's folder; the files need not exist yet.
    assert profile.workspace == tmp_path.resolve()
    assert profile.matching_key_path == tmp_path.resolve() / "matching.key"
    assert profile.reveal_public_key_path == tmp_path.resolve() / "reveal.pub"
    assert profile.token_file is None


def test_rendered_profile_has_the_documented_sections(write_profile: ProfileFactory) -> None:
    text = write_profile().read_text(encoding="utf-8")

    for heading in (
        "[company]",
        "[matcher]",
        "[keys]",
        "[source]",
        "[mapping]",
        "[formats]",
        "[constants]",
        "[values.contract_type]",
        "[values.tenant_role]",
    ):
        assert heading in text
    assert 'record_id = "Löpnr"' in text
    assert "# token_file" in text  # optional settings are shown, commented


def test_profile_without_a_mapping_names_each_required_field(
    write_profile: ProfileFactory,
) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(write_profile(mapping={}))

    message = str(caught.value)
    for field in ("record_id", "national_id", "contract_start"):
        assert f"[mapping] {field}: required field is not mapped" in message


def test_values_needing_quotes_survive_rendering(write_profile: ProfileFactory) -> None:
    mapping = dict(MAPPING_A, record_id='Löp "nr"\\A')

    profile = load_profile(write_profile(mapping=mapping))

    assert profile.mapping["record_id"] == 'Löp "nr"\\A'


def test_normalise_options_carry_the_profile_settings(write_profile: ProfileFactory) -> None:
    profile = load_profile(write_profile(constants={"contract_type": "student"}))

    options = profile.normalise_options()

    assert options.national_id_scheme == "se-personnummer"
    assert options.date_formats["contract_start"] == ("%Y-%m-%d", "%Y%m%d")
    assert options.source_columns["national_id"] == "Personnummer"
    assert options.source_columns["contract_type"] == "constant"


# --- what load_profile refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "where", "word"),
    [
        ('nationalitet = "Nationalitet"', "[mapping] nationalitet", "nationalitet"),
        ('language = "Språk"', "[mapping] language", "language"),
        ('city = "Modersmål/Språk"', '[mapping] city = "Modersmål/Språk"', "språk"),
        ('phone = "Kön"', '[mapping] phone = "Kön"', "kön"),
        ('preferred_language = "X"', "[mapping] preferred_language", "language"),
    ],
)
def test_forbidden_fields_are_refused_and_the_message_says_why(
    write_profile: ProfileFactory, line: str, where: str, word: str
) -> None:
    text = write_profile().read_text(encoding="utf-8")
    path = write_profile()
    heading_end = text.index("\n", text.index("\n[mapping]") + 1)
    path.write_text(text[: heading_end + 1] + line + text[heading_end:], encoding="utf-8")

    with pytest.raises(ForbiddenFieldError) as caught:
        load_profile(path)

    message = str(caught.value)
    assert where in message
    assert word in message.lower()
    assert "GDPR art. 9" in message
    assert "can never leave the company" in message
    assert "remove the line" in message


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    body = """
[keys]
reveal_key_fingerprint = "abc"
[source]
delimter = ";"
format = "xls"
header_row = 0
[mapping]
record_id = "Löpnr"
personnummer = "Pnr"
contract_start = "Fr.o.m."
[formats]
national_id_scheme = "se-pnr"
contract_start = ["%Y-%q-%d"]
contract_end = ["%Y"]
phone_region = "XX"
[constants]
contract_type = "housing"
[values.contract_type]
"Lokal" = "shop"
[mapings]
x = "y"
"""
    with pytest.raises(ProfileError) as caught:
        load_text(tmp_path, body)

    message = str(caught.value)
    expected = [
        "[mapings]: unknown section; did you mean 'mapping'?",
        "[source] delimter: unknown key; did you mean 'delimiter'?",
        "[source] format: 'xls' is not a format",
        "[source] header_row: expected a whole number",
        "[keys] reveal_key_fingerprint: expected 32 lower-case hex digits",
        "[mapping] personnummer: not a field that can be mapped; did you mean 'national_id'?",
        "[mapping] national_id: required field is not mapped",
        "[formats] national_id_scheme: unknown scheme 'se-pnr'; did you mean 'se-personnummer'?",
        "[formats] contract_start: '%Y-%q-%d': unknown directive %q",
        "[formats] contract_end: '%Y': a date format needs a year",
        "[formats] phone_region: 'XX' is not a region code",
        "[constants] contract_type: 'housing' is not a contract type",
        "[values.contract_type] \"Lokal\": 'shop' is not one of residential",
    ]
    for line in expected:
        assert line in message
    assert "13 problems" in message
    assert not isinstance(caught.value, ForbiddenFieldError)


def test_identity_fields_can_not_be_constants(tmp_path: Path) -> None:
    body = '[mapping]\nrecord_id = "Id"\ncontract_start = "Start"\n[constants]\nnational_id = "1"\n'

    with pytest.raises(ProfileError, match=r"\[constants\] national_id: can not be a constant"):
        load_text(tmp_path, body)


def test_a_field_can_not_be_both_mapped_and_constant(tmp_path: Path) -> None:
    body = (
        '[mapping]\nrecord_id = "Id"\nnational_id = "Pnr"\ncontract_start = "Start"\n'
        'contract_type = "Typ"\n[constants]\ncontract_type = "residential"\n'
    )

    with pytest.raises(ProfileError, match="also mapped under"):
        load_text(tmp_path, body)


def test_minimal_profile_uses_defaults(tmp_path: Path) -> None:
    body = (
        '[mapping]\nrecord_id = "Id"\nnational_id = "Pnr"\n[constants]\n'
        'contract_start = "2024-01-01"\n[formats]\ncontract_start = "%Y-%m-%d"\n'
    )

    profile = load_text(tmp_path, body)

    assert profile.source == SourceOptions()
    assert profile.constants == {"contract_start": "2024-01-01"}
    assert profile.date_formats["contract_start"] == ("%Y-%m-%d",)
    assert profile.signing_key_path.name == "signing.key"


def test_invalid_toml_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "connector.toml"
    path.write_text("[mapping]\nrecord_id = Löpnr\n", encoding="utf-8")

    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(path)


def test_missing_profile_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no profile at"):
        load_profile(tmp_path / "connector.toml")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Nationalitet", "nationalitet"),
        ("MEDBORGARSKAP", "medborgarskap"),
        ("preferred_language", "language"),
        ("Modersmålsspråk", "språk"),
        ("Sprak", "språk"),  # diacritics lost in the export
        ("Kön", "kön"),
        ("Hälsa", "hälsa"),
        ("Gender", "gender"),
        ("Könummer", None),  # a housing-queue number, not gender
        ("Kösex", None),
        ("Personnummer", None),
        ("Postort", None),
    ],
)
def test_forbidden_word(name: str, expected: str | None) -> None:
    assert forbidden_word(name) == expected


@pytest.mark.parametrize(
    ("fmt", "ok"),
    [
        ("%Y-%m-%d", True),
        ("%d/%m/%Y", True),
        ("%Y-%m-%d %H:%M:%S", True),
        ("%y%m%d", True),
        ("%d %B %Y", True),
        ("%Y-%m", False),
        ("%Y-%m-%Q", False),
        ("YYYY-MM-DD", False),
    ],
)
def test_date_format_problem(fmt: str, ok: bool) -> None:
    assert (date_format_problem(fmt) is None) is ok


# --- apply_mapping -------------------------------------------------------------------------


def test_apply_mapping_renames_adds_constants_and_the_row_number(
    write_profile: ProfileFactory,
) -> None:
    profile = load_profile(write_profile(constants={"contract_type": "residential"}))
    raw = read_export(DATA / "good_semicolon_cp1252.csv", profile.source)

    plan = apply_mapping(raw, profile)
    frame = plan.collect()

    assert isinstance(plan, pl.LazyFrame)
    assert frame.columns == [
        ROW_COLUMN,
        "record_id",
        "national_id",
        "contract_start",
        "first_name",
        "last_name",
        "contract_end",
        "contract_type",
    ]
    assert frame.get_column(ROW_COLUMN).to_list() == list(range(2, 14))
    assert frame.get_column("contract_type").unique().to_list() == ["residential"]
    assert frame.schema["contract_type"] == pl.String
    assert frame.row(0)[:4] == (2, "1", "520120-5837", "2022-04-22")


def test_apply_mapping_matches_trimmed_and_case_insensitive_names_but_prefers_exact(
    write_profile: ProfileFactory,
) -> None:
    mapping = {"record_id": "id", "national_id": "PNR", "contract_start": "Start"}
    profile = load_profile(write_profile(mapping=mapping))
    raw = RawExtract(
        pl.DataFrame(
            {"__row": [2], " Id ": ["a"], "id": ["b"], "Pnr": ["p"], "start ": ["s"]},
            schema_overrides={"__row": pl.UInt32},
        ),
        read_export(DATA / "header_only.csv", SourceOptions()).detected,
        (),
    )

    frame = apply_mapping(raw, profile).collect()

    assert frame.row(0) == (2, "b", "p", "s")


def test_missing_columns_get_a_did_you_mean(write_profile: ProfileFactory) -> None:
    mapping = dict(MAPPING_A, national_id="Personnumer")
    profile = load_profile(write_profile(mapping=mapping))
    raw = read_export(DATA / "good_semicolon_cp1252.csv", profile.source)

    with pytest.raises(ProfileError) as caught:
        apply_mapping(raw, profile)

    message = str(caught.value)
    assert '[mapping] national_id = "Personnumer": no such column' in message
    assert 'did you mean "Personnummer"?' in message


def test_missing_required_column_is_named(write_profile: ProfileFactory) -> None:
    profile = load_profile(write_profile())
    raw = read_export(DATA / "bad_missing_required.csv", profile.source)

    with pytest.raises(ProfileError) as caught:
        apply_mapping(raw, profile)

    message = str(caught.value)
    assert '[mapping] national_id = "Personnummer": no such column' in message
    assert "1 mapped column is not in the export's header" in message


def test_header_lower_down_is_pointed_out(write_profile: ProfileFactory) -> None:
    profile = load_profile(write_profile(mapping=MAPPING_B))
    raw = read_export(DATA / "bad_header_row3.xlsx", profile.source)

    with pytest.raises(ProfileError) as caught:
        apply_mapping(raw, profile)

    assert "the header seems to be on row 3; set header_row = 3 under [source]" in str(caught.value)


def test_header_row_hint_fixes_it(write_profile: ProfileFactory) -> None:
    profile = load_profile(write_profile(mapping=MAPPING_B, source=SourceOptions(header_row=3)))
    raw = read_export(DATA / "bad_header_row3.xlsx", profile.source)

    frame = apply_mapping(raw, profile).collect()

    assert frame.height == 8
    assert frame.get_column(ROW_COLUMN).first() == 4


def test_wrong_delimiter_is_pointed_out(write_profile: ProfileFactory) -> None:
    profile = load_profile(write_profile())
    raw = read_export(DATA / "bad_wrong_delimiter.csv", profile.source)

    with pytest.raises(ProfileError) as caught:
        apply_mapping(raw, profile)

    assert "the delimiter is probably '|'" in str(caught.value)
    assert 'set delimiter = "|" under [source]' in str(caught.value)
