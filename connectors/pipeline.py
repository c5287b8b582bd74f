"""From an export file to a validation report and (when the data is good enough) a package.

This is the connector's one workflow, shared by `connector check`, `connector pseudonymise`,
the demo and the benchmarks: read -> map -> normalise and validate -> (stop if too many rows
are bad) -> pseudonymise -> write the package and keep the local ref table.
Side effects (clock, randomness, progress display) come in as arguments.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

import polars as pl

from connectors import pseudonymise
from connectors.column_profile import flag_like_columns
from connectors.errors import DataError, KeyFileError, ProfileError
from connectors.extract import RAW_ROW_COLUMN, RawExtract, read_export
from connectors.normalise import normalise
from connectors.package import write_package
from connectors.profile import Profile, apply_mapping
from connectors.protection import protection_problems
from connectors.report import Report, build_report, check_report_stem, write_report
from contract import Manifest

__all__ = [
    "DEFAULT_MAX_ERROR_RATE",
    "REFS_FILE",
    "CheckResult",
    "PackageResult",
    "Progress",
    "check_and_report",
    "check_export",
    "pseudonymise_export",
    "resolve_refs",
]

DEFAULT_MAX_ERROR_RATE = 0.05
# Below this many rows a second process costs more to start than it saves.
PARALLEL_FROM_ROWS = 50_000
# An export file this large has at least PARALLEL_FROM_ROWS rows in practice (a CSV row is
# ~150 bytes, a compressed xlsx or parquet row ~80): workers then start before reading, so
# their imports overlap the parent's reading and normalising.
PARALLEL_FROM_BYTES = 4_000_000
REFS_FILE = "refs.parquet"

# Called with a step name when a step starts; the CLI turns this into a progress display.
Progress = Callable[[str], None]


def _no_progress(step: str) -> None:
    return None


@dataclass(frozen=True)
class CheckResult:
    report: Report
    accepted: pl.DataFrame  # normalised rows that would go into a package


@dataclass(frozen=True)
class PackageResult:
    report: Report
    manifest: Manifest
    package: Path


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def check_export(
    source: Path | None,
    profile: Profile,
    *,
    as_of: date,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    now: Callable[[], datetime] = _now,
    progress: Progress = _no_progress,
) -> CheckResult:
    """Read, map, normalise and validate. Never writes anything.

    The report's status is ``stopped`` (with the reason) when the file has no data rows or more
    than `max_error_rate` of its rows are bad; otherwise ``ok``.

    Raises :class:`ProfileError` after reading (so the message can name the column) when the
    profile does not say where the protection flag is, or a column that looks like one by its
    header, or (with no flag mapped) by its values alone, is left unmapped.
    """
    progress("reading")
    raw: RawExtract = read_export(source, profile.source)
    progress("normalising")
    mapped = apply_mapping(raw, profile)
    header = [c for c in raw.frame.columns if c != RAW_ROW_COLUMN]
    flag_valued: list[str] = []
    if "protected_identity" not in profile.mapping:
        # Only then can an unrecognised flag column be the leak; an unmapped yes/no column
        # beside a mapped flag is some other property of the contract.
        explained = {c.strip().casefold() for c in profile.mapping.values()}
        declared = {c.strip().casefold() for c in profile.not_protection_flags}
        unexplained = [c for c in header if c.strip().casefold() not in explained | declared]
        flag_valued = flag_like_columns(raw.frame, unexplained)
    _refuse_unprotected(profile, header, flag_valued)
    normalised = normalise(mapped, profile.normalise_options(), as_of).collect()
    source_name = str(source) if source is not None else "sql query"
    report = build_report(
        normalised,
        company_id=profile.company_id,
        source=source_name,
        as_of=as_of.isoformat(),
        created_at=now().isoformat(),
        detected=asdict(raw.detected),
        max_error_rate=max_error_rate,
    )
    if report.rows_read == 0:
        report = report.stopped(
            "the export has a header but no data rows; check that you exported the right "
            "file or query"
        )
    elif report.error_rate > max_error_rate:
        report = report.stopped(
            f"{report.rows_bad} of {report.rows_read} rows "
            f"({report.error_rate:.1%}) have errors, more than the limit of "
            f"{max_error_rate:.1%}; the mapping is probably wrong (a column mapped to the wrong "
            "field, or a date format or id scheme that does not fit). Read the report, fix "
            "the profile and run again (or raise --max-error-rate if the data really is this bad)"
        )
    accepted = normalised.filter(pl.col("exclusion").is_null())
    return CheckResult(report=report, accepted=accepted)


def check_and_report(
    source: Path | None,
    profile: Profile,
    *,
    as_of: date,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    report_folder: Path | None = None,
    now: Callable[[], datetime] = _now,
    progress: Progress = _no_progress,
) -> tuple[CheckResult, Path, Path]:
    """`connector check`: :func:`check_export`, then the report written to `report_folder`
    (default: the workspace's ``reports/``). Returns the result and the report's two paths."""
    result = check_export(
        source, profile, as_of=as_of, max_error_rate=max_error_rate, now=now, progress=progress
    )
    folder = report_folder or profile.workspace / "reports"
    json_path, html_path = write_report(
        result.report, folder, check_report_stem(result.report), language=profile.report_language
    )
    return result, json_path, html_path


def _refuse_unprotected(
    profile: Profile, header: list[str] | tuple[()], flag_valued: list[str] | tuple[()] = ()
) -> None:
    problems = protection_problems(
        profile.mapping,
        profile.constants,
        profile.protected_identity_confirmed_by,
        header,
        flag_valued=flag_valued,
        not_flags=profile.not_protection_flags,
    )
    if problems:
        raise ProfileError(
            f"{profile.path}: protected identities are not accounted for, so nothing was "
            "written:\n" + "\n".join(f"  {p}" for p in problems)
        )


@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A sibling folder that becomes `out_dir` only when everything inside it was written."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DataError(
            f"{out_dir} already exists and is not empty; choose a new folder for the package "
            "(packages are never overwritten)"
        )
    staging = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        out_dir.rmdir()
    staging.rename(out_dir)


def pseudonymise_export(
    source: Path | None,
    profile: Profile,
    out_dir: Path,
    *,
    as_of: date,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    now: Callable[[], datetime] = _now,
    new_extract_id: Callable[[], UUID] = uuid4,
    progress: Progress = _no_progress,
) -> PackageResult:
    """Check the export and, when it passes, write the package to `out_dir`.

    When the check stops, the report goes to the workspace's `reports/` folder, no package is
    written and :class:`DataError` is raised with the reason.
    """
    parallel = _workers() > 1
    with ExitStack() as workers:
        pool = None
        if parallel and source is not None and _file_size(source) >= PARALLEL_FROM_BYTES:
            pool = _start_pool(workers)
        result = check_export(
            source, profile, as_of=as_of, max_error_rate=max_error_rate, now=now, progress=progress
        )
        if parallel and pool is None and result.accepted.height >= PARALLEL_FROM_ROWS:
            pool = _start_pool(workers)
        package = _package(result, profile, out_dir, as_of, now, new_extract_id, progress, pool)
    return package


def _start_pool(stack: ExitStack) -> pseudonymise.EncodingPool:
    """Start the encoding workers with Ctrl-C ignored, so they inherit that: an interrupt then
    reaches only this process, which stops them, removes what it had staged and exits 130,
    instead of every worker printing its own traceback."""
    if threading.current_thread() is not threading.main_thread():
        return stack.enter_context(pseudonymise.start_encoding_pool(_workers()))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return stack.enter_context(pseudonymise.start_encoding_pool(_workers()))
    finally:
        signal.signal(signal.SIGINT, previous)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader reports a missing file with a proper message


def _package(
    result: CheckResult,
    profile: Profile,
    out_dir: Path,
    as_of: date,
    now: Callable[[], datetime],
    new_extract_id: Callable[[], UUID],
    progress: Progress,
    pool: pseudonymise.EncodingPool | None,
) -> PackageResult:
    report = result.report
    if report.status != "ok":
        json_path, _ = write_report(
            report,
            profile.workspace / "reports",
            check_report_stem(report),
            language=profile.report_language,
        )
        raise DataError(f"{report.stop_reason}. No package was written; report: {json_path}")

    reveal_hint = (
        "ask the matcher's operator for the reveal public key (`matcher keys reveal-public`) "
        "and save it there"
    )
    if not profile.reveal_public_key_path.exists():
        raise KeyFileError(
            f"the matcher's reveal public key was not found at {profile.reveal_public_key_path}: "
            + reveal_hint
        )
    reveal_pem = profile.reveal_public_key_path.read_bytes()
    matching_key = pseudonymise.load_matching_key(profile.matching_key_path)
    local_key = pseudonymise.load_local_key(profile.local_key_path)
    signing_key = pseudonymise.load_signing_key(profile.signing_key_path)
    _check_reveal_pin(profile, reveal_pem)

    # Workers hand encoded chunks back as files in a scratch folder next to the package (they
    # hold only pseudonymised columns); it is removed, whatever happens, once the package and
    # the ref table are written.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".crosscheck-tmp-", dir=out_dir.parent) as scratch:
        with _staging(out_dir) as staging:
            progress("pseudonymising")
            extract_id = new_extract_id()
            data_key = pseudonymise.new_data_key()
            encoder = pseudonymise.Encoder(matching_key, local_key)
            # Random row order: the package keeps no trace of the export's order.
            accepted = pseudonymise.shuffled(result.accepted)
            records = encoder.encode(
                accepted, extract_id, data_key, pool=pool, scratch=Path(scratch)
            )
            if pool is not None:
                pool.close()  # the workers' memory is free again before the package is written
            wrapped = pseudonymise.wrap_data_key(
                data_key, reveal_pem, profile.company_id, extract_id
            )
            del data_key

            progress("writing package")
            manifest = write_package(
                staging,
                records,
                company_id=profile.company_id,
                extract_id=extract_id,
                as_of=as_of,
                created_at=now(),
                matching_key_epoch=matching_key.epoch,
                encoding=encoder.parameters,
                reveal_public_pem=reveal_pem,
                wrapped_data_key=wrapped,
                signing_key=signing_key,
            )
            report = report.with_package(
                {
                    "folder": str(out_dir),
                    "extract_id": str(extract_id),
                    "rows": manifest.row_count,
                    "matching_key_epoch": manifest.matching_key_epoch,
                    "reveal_key_fingerprint": manifest.reveal_key_fingerprint,
                    "records_sha256": manifest.records_sha256,
                }
            )
            write_report(report, staging, language=profile.report_language)
            refs = records.get_column("ref")
        _keep_refs(profile.workspace / REFS_FILE, refs, accepted)
        del records, refs  # they may map the scratch files, removed next
    return PackageResult(report=report, manifest=manifest, package=out_dir)


def _workers() -> int:
    """Worker processes for encoding: one per core (at most 4)."""
    return max(1, min(os.cpu_count() or 1, 4))


def _check_reveal_pin(profile: Profile, reveal_pem: bytes) -> None:
    from contract import pem_fingerprint

    if profile.reveal_key_fingerprint is None:
        return
    actual = pem_fingerprint(reveal_pem)
    if actual != profile.reveal_key_fingerprint:
        raise KeyFileError(
            f"the reveal public key in {profile.reveal_public_key_path} has fingerprint {actual}, "
            f"but the profile pins {profile.reveal_key_fingerprint}; get the current key from the "
            "matcher's operator and check the fingerprint with them before changing the pin"
        )


def _keep_refs(path: Path, refs: pl.Series, accepted: pl.DataFrame) -> None:
    """Add this extract's ref -> record_id pairs to the workspace's local ref table."""
    fresh = pl.DataFrame(
        {"ref": refs, "record_id": accepted.get_column("record_id")},
        schema={"ref": pl.String, "record_id": pl.String},
    )
    if path.exists():
        fresh = pl.concat([pl.read_parquet(path), fresh]).unique(subset="ref", keep="last")
    tmp = path.with_name(path.name + ".tmp")
    fresh.sort("ref").write_parquet(tmp)
    tmp.replace(path)


def resolve_refs(profile: Profile, refs: list[str]) -> list[tuple[str, str | None]]:
    """Look refs up in the workspace's ref table: (ref, record_id or None when unknown)."""
    path = profile.workspace / REFS_FILE
    if not path.exists():
        raise DataError(
            f"no ref table at {path}: it is written by `connector pseudonymise`; run that first "
            "(refs of extracts pseudonymised in another workspace can not be resolved here)"
        )
    table = pl.read_parquet(path).filter(pl.col("ref").is_in(refs))
    known = dict(zip(table.get_column("ref"), table.get_column("record_id"), strict=True))
    return [(ref, known.get(ref)) for ref in refs]
