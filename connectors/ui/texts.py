"""Every text of `connector ui`, in Swedish (the default) and English.

One table keyed by message id; a test checks that every id has both languages and that every
id the templates use is here. Messages from the connector's library (why a check stopped,
why the matcher refused) come in English, as the CLI prints them; the page puts a sentence in
the chosen language above them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "DEFAULT_LANGUAGE",
    "FIELD_LABELS",
    "LANGUAGES",
    "REASON_LABELS",
    "TEXTS",
    "translator",
]

LANGUAGES: Final = ("sv", "en")
DEFAULT_LANGUAGE: Final = "sv"

_TEXTS: dict[str, tuple[str, str]] = {
    # message id: (Swedish, English)
    "app.title": ("Crosscheck – anslutning", "Crosscheck connector"),
    "app.company": ("Bolag", "Company"),
    "app.workspace": ("Arbetsmapp", "Workspace"),
    "app.matcher": ("Matchare", "Matcher"),
    "app.local_only": (
        "Den här sidan körs bara på din dator (127.0.0.1). Exempelvärden och personuppgifter "
        "visas bara här; det enda som lämnar bolaget är det signerade paketet du laddar upp.",
        "This page runs on your computer only (127.0.0.1). Sample values and personal data are "
        "shown only here; the only thing that leaves the company is the signed package you "
        "upload.",
    ),
    "app.language": ("Språk", "Language"),
    "step.export": ("1. Utdrag", "1. Export"),
    "step.mapping": ("2. Kolumner", "2. Columns"),
    "step.check": ("3. Kontroll", "3. Check"),
    "step.pseudonymise": ("4. Pseudonymisering", "4. Pseudonymise"),
    "step.package": ("5. Det som lämnar bolaget", "5. What leaves the company"),
    "step.upload": ("6. Uppladdning", "6. Upload"),
    "common.back": ("Tillbaka", "Back"),
    "failed.title": (
        "Steget kunde inte köras; ingenting skrevs. Rätta det som står nedan och försök igen.",
        "The step could not run; nothing was written. Fix what is said below and try again.",
    ),
    "export.title": ("Välj utdraget", "Choose the export"),
    "export.intro": (
        "Ange sökvägen till utdraget ur hyresgästregistret (CSV, XLSX eller Parquet) på den "
        "här datorn. Filen läses här och lämnar inte datorn.",
        "Give the path of the tenancy-register export (CSV, XLSX or Parquet) on this "
        "computer. The file is read here and does not leave the computer.",
    ),
    "export.path": ("Sökväg till utdraget", "Path of the export"),
    "export.sheet": ("Blad (bara XLSX, valfritt)", "Sheet (XLSX only, optional)"),
    "export.as_of": ("Utdraget avser datum", "The extract is as of"),
    "export.max_error_rate": (
        "Högsta andel felaktiga rader (0–1)",
        "Highest share of bad rows (0–1)",
    ),
    "export.submit": ("Läs utdraget och föreslå kolumner", "Read the export and suggest columns"),
    "export.bad_date": ("Datumet ska skrivas ÅÅÅÅ-MM-DD.", "The date must be YYYY-MM-DD."),
    "export.bad_rate": (
        "Andelen ska vara ett tal mellan 0 och 1, t.ex. 0.05.",
        "The share must be a number between 0 and 1, e.g. 0.05.",
    ),
    "export.unreadable": (
        "Utdraget kunde inte läsas som en tabell.",
        "The export could not be read as a table.",
    ),
    "new.title": ("Ny arbetsmapp", "New workspace"),
    "new.intro": (
        "Arbetsmappen finns inte än. Den skapas (profil och nycklar, som `connector init`) "
        "när du sparar kolumnerna, i",
        "The workspace does not exist yet. It is created (profile and keys, as "
        "`connector init` does) when you save the columns, in",
    ),
    "new.company": ("Bolagets id hos matcharen (t.ex. linbo)", "Company id at the matcher"),
    "new.matching_key": (
        "Matchningsnyckeln (fil från nyckelansvarig)",
        "The matching key (file from the key custodian)",
    ),
    "new.matcher_url": ("Matcharens adress", "The matcher's address"),
    "new.reveal_key": (
        "Matcharens publika nyckel reveal.pub (fil från operatören)",
        "The matcher's reveal.pub (file from the operator)",
    ),
    "new.created": ("Arbetsmappen skapades:", "The workspace was created:"),
    "new.fingerprint": (
        "Skicka signing.pub till matcharens operatör och läs upp fingeravtrycket i telefon:",
        "Send signing.pub to the matcher's operator and read them the fingerprint on the phone:",
    ),
    "mapping.title": ("Kolumner i utdraget", "Columns of the export"),
    "mapping.intro": (
        "Förslaget bygger på rubrikerna och värdena. Välj fält för varje kolumn; kolumner "
        "som står kvar som 'stannar i bolaget' lämnar aldrig bolaget. Sparas i arbetsmappens "
        "connector.toml, samma fil som `connector init` skriver.",
        "The suggestion comes from the headers and the values. Choose a field for each "
        "column; columns left as 'stays in the company' never leave it. Saved in the "
        "workspace's connector.toml, the same file `connector init` writes.",
    ),
    "mapping.column": ("Kolumn i utdraget", "Column of the export"),
    "mapping.field": ("Fält", "Field"),
    "mapping.confidence": ("Säkerhet", "Confidence"),
    "mapping.samples": ("Exempelvärden (visas bara här)", "Sample values (shown only here)"),
    "mapping.stays_local": ("— stannar i bolaget —", "— stays in the company —"),
    "mapping.not_flag": (
        "— stannar i bolaget: inte en skyddsmarkering (kontrollerat) —",
        "— stays in the company: not a protection flag (checked) —",
    ),
    "mapping.from_profile": ("från profilen", "from the profile"),
    "mapping.flag_warning": (
        "Ser ut som en markering för skyddade personuppgifter: mappa den som "
        "skyddsmarkering, eller intyga att den är något annat.",
        "Looks like a protection flag (skyddad identitet): map it as the protection flag, or "
        "state that it is something else.",
    ),
    "mapping.checks": ("Att kontrollera", "What to check"),
    "mapping.sheet": ("Bladet som läses", "Sheet read"),
    "mapping.header_row": ("Rubrikraden är rad", "The header is on row"),
    "mapping.submit": ("Spara och kontrollera utdraget", "Save and check the export"),
    "mapping.twice": (
        "Samma fält är valt för flera kolumner",
        "The same field is chosen for several columns",
    ),
    "mapping.saved_refused": (
        "Profilen sparades inte; filen är som förut.",
        "The profile was not saved; the file is as it was.",
    ),
    "check.title": ("Kontroll av utdraget", "Check of the export"),
    "check.stopped": (
        "Kontrollen stoppade: inget paket kan skapas av det här utdraget förrän det är "
        "rättat. Ingenting har skrivits utom rapporten.",
        "The check stopped: no package can be made from this export until it is fixed. "
        "Nothing was written but the report.",
    ),
    "check.refused": (
        "Utdraget kontrollerades inte. Ingenting har skrivits.",
        "The export was not checked. Nothing was written.",
    ),
    "check.passed": (
        "Utdraget klarar kontrollen. Du kan pseudonymisera det.",
        "The export passes the check. You can pseudonymise it.",
    ),
    "check.rows_read": ("Rader lästa", "Rows read"),
    "check.rows_accepted": ("Rader godkända", "Rows accepted"),
    "check.excluded": ("Utesluten", "Excluded"),
    "check.warnings": ("Varningar (värde utelämnat)", "Warnings (value dropped)"),
    "check.error_rate": ("Andel fel", "Error rate"),
    "check.limit": ("gräns", "limit"),
    "check.problems": ("Problemrader", "Problem rows"),
    "check.more": ("fler problem finns i rapporten", "more problems are in the report"),
    "check.row": ("Rad", "Row"),
    "check.col": ("Kolumn", "Column"),
    "check.reason": ("Vad som var fel", "What was wrong"),
    "check.expected": ("Förväntat", "Expected"),
    "check.value": ("Värde", "Value"),
    "check.report": ("Rapporten finns här", "The report is here"),
    "check.again": ("Kontrollera igen", "Check again"),
    "check.fix_mapping": ("Ändra kolumnerna", "Change the columns"),
    "pseudonymise.title": ("Pseudonymisera", "Pseudonymise"),
    "pseudonymise.out": ("Paketets mapp (ny)", "Package folder (new)"),
    "pseudonymise.submit": (
        "Pseudonymisera och skapa paketet",
        "Pseudonymise and make the package",
    ),
    "pseudonymise.running": ("Pseudonymiserar …", "Pseudonymising …"),
    "pseudonymise.failed": (
        "Pseudonymiseringen avbröts. Inget paket skrevs och inget halvfärdigt lämnades kvar.",
        "Pseudonymisation stopped. No package was written and nothing half-written was left.",
    ),
    "progress.reading": ("läser utdraget", "reading the export"),
    "progress.normalising": ("kontrollerar raderna", "checking the rows"),
    "progress.pseudonymising": ("pseudonymiserar", "pseudonymising"),
    "progress.writing package": ("skriver paketet", "writing the package"),
    "progress.uploading": ("laddar upp", "uploading"),
    "progress.starting": ("startar", "starting"),
    "package.title": ("Det som lämnar bolaget", "What leaves the company"),
    "package.intro": (
        "Så här ser paketet ut som matcharen får: nycklade token, Bloom-filter och "
        "krypterade fält. Inga namn, personnummer eller adresser i klartext.",
        "This is the package the matcher gets: keyed tokens, Bloom filters and sealed "
        "fields. No names, personnummer or addresses in plain text.",
    ),
    "package.folder": ("Paketets mapp", "Package folder"),
    "package.rows": ("Poster", "Records"),
    "package.columns": ("Kolumner som skickas", "Columns sent"),
    "package.column": ("Kolumn", "Column"),
    "package.type": ("Typ", "Type"),
    "package.manifest": ("Manifest (signerat)", "Manifest (signed)"),
    "package.clean": (
        "Ingen klartext hittades i paketet.",
        "No plaintext was found in the package.",
    ),
    "package.findings": (
        "Läsbara uppgifter hittades – ladda inte upp paketet:",
        "Readable data found – do not upload this package:",
    ),
    "package.none": (
        "Inget paket ännu: kontrollera och pseudonymisera utdraget först.",
        "No package yet: check and pseudonymise the export first.",
    ),
    "upload.title": ("Ladda upp till matcharen", "Upload to the matcher"),
    "upload.token": (
        "API-token (data_officer); tom = CROSSCHECK_TOKEN eller token_file i profilen",
        "API token (data_officer); empty = CROSSCHECK_TOKEN or token_file in the profile",
    ),
    "upload.submit": ("Ladda upp paketet", "Upload the package"),
    "upload.retry": ("Försök igen", "Try again"),
    "upload.running": ("Laddar upp …", "Uploading …"),
    "upload.created": (
        "Matcharen tog emot utdraget. Det är nu bolagets aktiva utdrag.",
        "The matcher accepted the extract. It is now your company's active extract.",
    ),
    "upload.unchanged": (
        "Matcharen hade redan det här paketet; ingenting ändrades.",
        "The matcher already had this package; nothing changed.",
    ),
    "upload.extract_id": ("Utdragets id hos matcharen", "Extract id at the matcher"),
    "upload.records": ("Poster", "Records"),
    "upload.attempts": ("Försök", "Attempts"),
    "upload.failed": (
        "Uppladdningen avbröts. Matcharen tog inte emot något (ett paket tas emot helt eller "
        "inte alls) och paketet här är oförändrat. Det är säkert att försöka igen.",
        "The upload was interrupted. The matcher accepted nothing (a package is accepted "
        "whole or not at all) and the package here is unchanged. It is safe to try again.",
    ),
}

TEXTS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {key: MappingProxyType(dict(zip(LANGUAGES, pair, strict=True))) for key, pair in _TEXTS.items()}
)

_FIELD_LABELS: dict[str, tuple[str, str]] = {
    "record_id": ("radens id (lämnar aldrig bolaget)", "row id (never leaves the company)"),
    "national_id": ("personnummer / samordningsnummer", "personnummer / samordningsnummer"),
    "contract_start": ("kontraktets startdatum (inflyttning)", "contract start (move-in)"),
    "first_name": ("förnamn", "first name"),
    "last_name": ("efternamn", "last name"),
    "full_name": ("hela namnet", "full name"),
    "birth_date": ("födelsedatum", "birth date"),
    "street_address": ("gatuadress", "street address"),
    "postal_code": ("postnummer", "postal code"),
    "city": ("ort", "city"),
    "apartment_number": ("lägenhetsnummer", "apartment number"),
    "contract_id": ("kontraktsnummer", "contract number"),
    "contract_end": ("kontraktets slutdatum (avflyttning)", "contract end (move-out)"),
    "contract_type": ("kontraktstyp", "contract type"),
    "tenant_role": ("hyresgästens roll", "tenant role"),
    "sublet_approved": ("andrahandsuthyrning godkänd", "sublet approved"),
    "phone": ("telefon", "phone"),
    "email": ("e-post", "e-mail"),
    "protected_identity": (
        "skyddsmarkering (skyddade personuppgifter)",
        "protection flag (skyddad identitet)",
    ),
}

FIELD_LABELS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {k: MappingProxyType(dict(zip(LANGUAGES, v, strict=True))) for k, v in _FIELD_LABELS.items()}
)

_REASONS: dict[str, tuple[str, str]] = {
    "invalid_national_id": ("ogiltigt personnummer", "invalid national id"),
    "missing_required": ("obligatoriskt värde saknas", "required value missing"),
    "protected_identity": ("skyddade personuppgifter", "protected identity"),
    "minor": ("minderårig", "minor"),
    "duplicate_record_id": ("samma rad-id två gånger", "duplicate row id"),
    "unparseable_date": ("datum som inte kan läsas", "unreadable date"),
    "invalid_value": ("ogiltigt värde", "invalid value"),
}
REASON_LABELS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {k: MappingProxyType(dict(zip(LANGUAGES, v, strict=True))) for k, v in _REASONS.items()}
)


def translator(language: str) -> Callable[[str], str]:
    """`t(message_id)` in `language`; an unknown id is a programming error (KeyError)."""
    return lambda key: TEXTS[key][language]
