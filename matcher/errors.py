"""Errors of the matcher, one tree under :class:`MatcherError`.

Each error carries the HTTP status and the problem ``slug`` it is turned into by
``matcher.api.problems`` (RFC 9457 problem+json, type ``<PROBLEM_BASE><slug>``), and the CLI
turns the same errors into exit codes. Messages never contain personal data: at most company ids,
extract ids, column names and counts.

    MatcherError                      500 internal
    ├── ConfigError                   500 data dir, settings file or key file unusable
    ├── AuthenticationError           401 no, unknown or revoked bearer token
    ├── TooManyAttempts               429 too many failed authentications: locked out a while
    ├── PermissionDenied              403 the role may not use this route
    ├── NotFound                      404 no such object, or not one of the caller's company
    ├── ConflictError                 409 the object exists already, or a concurrent change won
    ├── UploadRejected                4xx an upload package failed verification
    │   ├── PayloadTooLarge           413 body larger than max_upload_bytes
    │   ├── MalformedUpload           400 multipart body missing a part or unreadable
    │   ├── BadManifest               422 manifest.json does not parse or is inconsistent
    │   ├── ForeignCompany            403 manifest company is not the uploader's company
    │   ├── UnknownCompany            422 company is not registered at this matcher
    │   ├── BadSignature              422 manifest signature does not verify
    │   ├── SigningKeyRevoked         422 signed with a company key revoked as compromised
    │   ├── RevealKeyMismatch         409 package sealed to another reveal key
    │   ├── UnsupportedContract       422 contract version not supported
    │   ├── IncomparableEncoding      409 epoch or encoding differs from another company's
    │   ├── IntegrityMismatch         422 records SHA-256 or row count differs from the manifest
    │   ├── BadParquet                422 records.parquet unreadable
    │   ├── SchemaMismatch            422 columns or dtypes differ from the contract
    │   ├── ReplayedPackage           409 older than (or superseded by) the active extract
    │   ├── ExtractIdReused           409 extract id already used for different content
    │   ├── DataKeyReused             409 wrapped data key already used by another extract
    │   ├── FutureAsOf                422 as-of date after today (beyond the clock tolerance)
    │   ├── ExtractTooLarge           413 real rows or decoded bytes over the company's limit
    │   └── CompressionBomb           422 decoded size / file size beyond pseudonymised data's
    ├── NoActivePolicy                409 no active policy valid on the run date: activate one
    │                                     with `matcher policies activate FILE`
    ├── RunFailed                     500 the matching run failed (the run row says why)
    ├── InvalidInput                  422 a request field is unusable (e.g. not an Ed25519 key)
    │
    │   Defined next to the code that raises them (one concept per module):
    ├── core.policy.PolicyError       422 a policy file has problems (``problems``: each with
    │                                     its key path); activation refuses it
    ├── core.audit.AuditError         the audit log (matcher/core/audit/errors.py)
    │   ├── InvalidAuditEntry         500 an entry is malformed (a bug in the caller)
    │   │   └── PersonalDataInEntry   500 an entry string looks like a personnummer or e-mail
    │   ├── ProofRangeError           422 a proof or checkpoint for a seq/size the log lacks
    │   └── CheckpointError           422 a checkpoint is malformed or its signature fails
    ├── core.audit.VerifyError        422 an export does not verify (exit 1; names the entry)
    ├── crypto.InvalidNoteSignature   422 a signed note's signature does not verify (opaque)
    ├── crypto.SealedDataUnreadable   500 a wrapped data key or sealed field does not open
    │                                     (opaque: wrong key, changed bytes or context)
    └── disclosure.DisclosureUnavailable
                                      410 retention destroyed the extract's key or blob

Policy conflicts (the same id and version activated with other text, two admins at once) are
``ConflictError``; retiring a policy that has no active version is ``NotFound``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "BadManifest",
    "BadParquet",
    "BadSignature",
    "CompressionBomb",
    "ConfigError",
    "ConflictError",
    "DataKeyReused",
    "ExtractIdReused",
    "ExtractTooLarge",
    "ForeignCompany",
    "FutureAsOf",
    "IncomparableEncoding",
    "IntegrityMismatch",
    "InvalidInput",
    "MalformedUpload",
    "MatcherError",
    "NoActivePolicy",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ReplayedPackage",
    "RevealKeyMismatch",
    "RunFailed",
    "SchemaMismatch",
    "TooManyAttempts",
    "UnknownCompany",
    "UnsupportedContract",
    "UploadRejected",
]


class MatcherError(Exception):
    """Base of every error the matcher raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"


class ConfigError(MatcherError):
    slug = "configuration"
    title = "The matcher is not configured correctly"


class AuthenticationError(MatcherError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication required"

    def __init__(
        self, detail: str = "send a valid bearer token: Authorization: Bearer cc_..."
    ) -> None:
        super().__init__(detail)


class TooManyAttempts(MatcherError):
    """Too many failed authentications from this address or with this token prefix."""

    status = 429
    slug = "too-many-attempts"
    title = "Too many failed attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many failed authentications from this address or with this token; try again "
            f"in {retry_after} seconds with a valid token"
        )
        self.retry_after = retry_after


class PermissionDenied(MatcherError):
    status = 403
    slug = "forbidden"
    title = "Not allowed for this role"


class NotFound(MatcherError):
    status = 404
    slug = "not-found"
    title = "Not found"


class ConflictError(MatcherError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class UploadRejected(MatcherError):
    status = 422
    slug = "upload-rejected"
    title = "Upload rejected"


class PayloadTooLarge(UploadRejected):
    status = 413
    slug = "payload-too-large"
    title = "Upload too large"


class MalformedUpload(UploadRejected):
    status = 400
    slug = "malformed-upload"
    title = "Malformed upload"


class BadManifest(UploadRejected):
    slug = "bad-manifest"
    title = "Manifest invalid"


class ForeignCompany(UploadRejected):
    status = 403
    slug = "foreign-company"
    title = "Package belongs to another company"


class UnknownCompany(UploadRejected):
    slug = "unknown-company"
    title = "Company not registered"


class BadSignature(UploadRejected):
    slug = "bad-signature"
    title = "Manifest signature invalid"


class SigningKeyRevoked(UploadRejected):
    slug = "signing-key-revoked"
    title = "Signed with a revoked key"


class RevealKeyMismatch(UploadRejected):
    status = 409
    slug = "reveal-key-mismatch"
    title = "Package sealed to another reveal key"


class UnsupportedContract(UploadRejected):
    slug = "unsupported-contract"
    title = "Contract version not supported"


class IncomparableEncoding(UploadRejected):
    status = 409
    slug = "incomparable-encoding"
    title = "Encoding differs from another participant"

    def __init__(self, detail: str, company: str) -> None:
        super().__init__(detail)
        self.company = company  # the other participant whose active extract differs


class IntegrityMismatch(UploadRejected):
    slug = "integrity-mismatch"
    title = "Records do not match the manifest"


class BadParquet(UploadRejected):
    slug = "bad-parquet"
    title = "records.parquet unreadable"


class SchemaMismatch(UploadRejected):
    slug = "schema-mismatch"
    title = "records.parquet columns differ from the contract"


class ReplayedPackage(UploadRejected):
    status = 409
    slug = "replayed-package"
    title = "Replayed old package"


class ExtractIdReused(UploadRejected):
    status = 409
    slug = "extract-id-reused"
    title = "Extract id already used"


class DataKeyReused(UploadRejected):
    status = 409
    slug = "data-key-reused"
    title = "Data key already used by another extract"


class FutureAsOf(UploadRejected):
    slug = "as-of-in-future"
    title = "As-of date in the future"


class ExtractTooLarge(UploadRejected):
    status = 413
    slug = "extract-too-large"
    title = "Extract over this company's limit"


class CompressionBomb(UploadRejected):
    slug = "compression-bomb"
    title = "records.parquet decompresses far beyond its size"


class NoActivePolicy(MatcherError):
    status = 409
    slug = "no-active-policy"
    title = "No active policy"


class RunFailed(MatcherError):
    slug = "run-failed"
    title = "Matching run failed"


class InvalidInput(MatcherError):
    status = 422
    slug = "invalid-input"
    title = "Invalid input"
