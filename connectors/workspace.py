"""The company's workspace: suggesting a mapping from a sample export, creating the folder
(profile and keys), and saving a changed mapping back into the profile.

`connector init` and `connector ui` both call these, so the profile a data officer gets from
the terminal and from the browser is written by the same code, from the same inference.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from connectors import pseudonymise
from connectors.errors import ExportError, ProfileError
from connectors.extract import RawExtract, SourceOptions, read_sample, sheet_names
from connectors.profile import COMPANY_ID, Profile, load_profile, render_profile
from connectors.suggest import MappingSuggestion, header_row_in, suggest_mapping
from contract import pem_fingerprint

__all__ = [
    "PROFILE_FILE",
    "Suggested",
    "Workspace",
    "create_workspace",
    "save_mapping",
    "suggest_from_export",
]

PROFILE_FILE: Final = "connector.toml"
_WORKBOOK_SUFFIXES: Final = (".xlsx", ".xlsm", ".xls")


@dataclass(frozen=True)
class Suggested:
    """The mapping suggested for an export, the source options that read it, and the sample."""

    suggestion: MappingSuggestion
    source: SourceOptions
    sample: RawExtract
    sheets: tuple[str, ...] = ()  # a workbook's sheets, when several were compared


@dataclass(frozen=True)
class Workspace:
    folder: Path
    profile: Path
    matching_key_epoch: str
    signing_fingerprint: str
    reveal_fingerprint: str | None


def _suggest_one(path: Path | None, source: SourceOptions) -> Suggested:
    """The suggestion for one sheet (or file, or query), with title rows above the header
    skipped."""
    sample = read_sample(path, source)
    header_row = header_row_in(sample)
    if header_row is None and sample.detected.format == "csv" and len(sample.frame.columns) <= 2:
        # Title rows above the header can hide the delimiter from the sniffer: try each.
        for delimiter in (";", "\t", ",", "|"):
            attempt = replace(source, delimiter=delimiter)
            header_row = header_row_in(read_sample(path, attempt))
            if header_row is not None:
                source = attempt
                break
    if header_row is not None:
        source = replace(source, header_row=header_row)
        sample = read_sample(path, source)
    detected = replace(
        source, sheet=sample.detected.sheet or source.sheet, header_row=sample.detected.header_row
    )
    return Suggested(suggest_mapping(sample), detected, sample)


def suggest_from_export(path: Path | None, source: SourceOptions | None = None) -> Suggested:
    """Suggest a mapping for an export file (or, with ``source.format == "sql"``, a query).

    For a workbook without a chosen sheet, every sheet is tried and the register is the one
    whose header names the most required fields, then the most fields.
    """
    source = source or SourceOptions()
    if path is None:
        return _suggest_one(None, source)
    if not path.exists():
        raise ExportError(f"sample export {path} not found")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the export file (CSV, XLSX or Parquet)")
    candidates = [source]
    sheets: tuple[str, ...] = ()
    if source.sheet is None and path.suffix.lower() in _WORKBOOK_SUFFIXES:
        sheets = tuple(sheet_names(path))
        candidates = [replace(source, sheet=name) for name in sheets]
    results = [_suggest_one(path, option) for option in candidates]
    best = max(
        results,
        key=lambda r: (-len(r.suggestion.missing_required), len(r.suggestion.mapping)),
    )
    return replace(best, sheets=sheets if len(sheets) > 1 else ())


def create_workspace(
    folder: Path,
    *,
    company_id: str,
    matching_key: Path,
    matcher_url: str,
    suggested: Suggested | None = None,
    source: SourceOptions | None = None,
    reveal_key: Path | None = None,
    no_protected_identities: str | None = None,
    report_language: str = "sv",
    mapping: Mapping[str, str] | None = None,
    not_protection_flags: Sequence[str] = (),
    usable: bool = False,
) -> Workspace:
    """Create the workspace folder: profile, company-local key, signing key pair, a copy of
    the matching key (and of the reveal key). An existing workspace is never overwritten.

    `mapping` replaces the suggested one (the ui's edited table). With `usable`, the profile
    must pass :func:`load_profile` (every required field mapped, ...) or nothing is written;
    `connector init` writes a profile to finish by hand, so it does not ask for that."""
    if (folder / PROFILE_FILE).exists():
        raise ProfileError(
            f"{folder} already holds a workspace ({PROFILE_FILE}); its keys are never "
            "overwritten. Choose another folder, or edit the existing profile"
        )
    if folder.exists() and not folder.is_dir():
        raise ProfileError(f"{folder} is a file; give a folder for the workspace")
    key = pseudonymise.load_matching_key(matching_key)
    suggestion = suggested.suggestion if suggested is not None else None
    if no_protected_identities is not None and suggestion is not None:
        flag = suggestion.mapping.get("protected_identity")
        if flag is not None:
            raise ProfileError(
                f'--no-protected-identities, but column "{flag}" of the sample is a protection '
                "flag; leave the option out: the flag column is mapped and its rows excluded"
            )
    if not COMPANY_ID.match(company_id):
        raise ProfileError(
            f"{company_id!r} is not a company id: expected lower-case letters, digits, '-' or "
            "'_', at most 64 characters, as registered at the matcher"
        )
    if not matcher_url.startswith(("http://", "https://")):
        raise ProfileError(f"{matcher_url!r} is not an http(s) URL of the matcher")
    if reveal_key is not None and not reveal_key.is_file():
        raise ProfileError(f"no reveal public key at {reveal_key}: give the file the operator sent")
    fingerprint = pem_fingerprint(reveal_key.read_bytes()) if reveal_key is not None else None

    chosen = suggested.source if suggested is not None else (source or SourceOptions())
    if mapping is None:
        mapping = dict(suggestion.mapping) if suggestion else {}
    text = render_profile(
        company_id=company_id,
        matcher_url=matcher_url,
        mapping=mapping,
        date_formats={k: list(v) for k, v in suggestion.date_formats.items()} if suggestion else {},
        source=chosen,
        reveal_key_fingerprint=fingerprint,
        national_id_scheme=suggestion.national_id_scheme if suggestion else "se-personnummer",
        protected_identity_confirmed_by=no_protected_identities,
        report_language=report_language,
        not_protection_flags=not_protection_flags,
    )
    existed = folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / (PROFILE_FILE + ".new")
    staged.write_text(text, encoding="utf-8")
    try:
        if usable:
            load_profile(staged)
    except ProfileError:
        staged.unlink()
        if not existed:
            folder.rmdir()
        raise
    _write_keys(folder, key, reveal_key)
    staged.replace(folder / PROFILE_FILE)
    public_pem = (folder / "signing.pub").read_bytes()
    return Workspace(
        folder=folder,
        profile=folder / PROFILE_FILE,
        matching_key_epoch=key.epoch,
        signing_fingerprint=pem_fingerprint(public_pem),
        reveal_fingerprint=fingerprint,
    )


def _write_keys(folder: Path, key: pseudonymise.MatchingKey, reveal_key: Path | None) -> None:
    pseudonymise.write_matching_key(folder / "matching.key", key)
    pseudonymise.write_local_key(folder / "local.key", pseudonymise.new_local_key())
    private_pem, public_pem = pseudonymise.new_signing_key()
    pseudonymise.write_secret_file(folder / "signing.key", private_pem)
    (folder / "signing.pub").write_bytes(public_pem)
    if reveal_key is not None:
        shutil.copyfile(reveal_key, folder / "reveal.pub")


def _relative(path: Path, workspace: Path) -> str:
    return os.path.relpath(path, workspace)


def save_mapping(
    profile: Profile,
    mapping: Mapping[str, str],
    *,
    source: SourceOptions | None = None,
    date_formats: Mapping[str, Sequence[str]] | None = None,
    national_id_scheme: str | None = None,
    not_protection_flags: Sequence[str] | None = None,
    notes: Sequence[str] = (),
) -> Profile:
    """Write `mapping` (and, when given, the source options, date formats, id scheme and the
    columns declared not to be protection flags) into the profile's file; everything else
    stays as the profile says. The new profile is checked by :func:`load_profile` before it
    replaces the old file, so a refused mapping leaves the file as it was."""
    ws = profile.workspace
    formats = dict(profile.date_formats)
    if date_formats is not None:
        formats.update({k: tuple(v) for k, v in date_formats.items()})
    text = render_profile(
        company_id=profile.company_id,
        matcher_url=profile.matcher_url,
        mapping=mapping,
        date_formats={k: list(v) for k, v in formats.items() if k in mapping},
        source=source or profile.source,
        constants={k: v for k, v in profile.constants.items() if k not in mapping},
        national_id_scheme=national_id_scheme or profile.national_id_scheme,
        phone_region=profile.phone_region,
        reveal_key_fingerprint=profile.reveal_key_fingerprint,
        token_file=_relative(profile.token_file, ws) if profile.token_file else None,
        contract_type_values=profile.contract_type_values,
        tenant_role_values=profile.tenant_role_values,
        notes=notes,
        protected_identity_confirmed_by=(
            profile.protected_identity_confirmed_by if "protected_identity" not in mapping else None
        ),
        report_language=profile.report_language,
        key_files={
            "matching_key": _relative(profile.matching_key_path, ws),
            "local_key": _relative(profile.local_key_path, ws),
            "signing_key": _relative(profile.signing_key_path, ws),
            "signing_public_key": _relative(profile.signing_public_key_path, ws),
            "reveal_public_key": _relative(profile.reveal_public_key_path, ws),
        },
        not_protection_flags=(
            profile.not_protection_flags if not_protection_flags is None else not_protection_flags
        ),
    )
    staged = profile.path.with_name(profile.path.name + ".new")
    staged.write_text(text, encoding="utf-8")
    try:
        saved = load_profile(staged)
    except ProfileError:
        staged.unlink(missing_ok=True)
        raise
    staged.replace(profile.path)
    return replace(saved, path=profile.path)


def _write_atomically(path: Path, text: str) -> None:
    staged = path.with_name(path.name + ".new")
    staged.write_text(text, encoding="utf-8")
    staged.replace(path)
