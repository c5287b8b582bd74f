"""Errors of the connector, one tree under :class:`ConnectorError`.

    ConnectorError                  exit code 2 unless a subclass says otherwise
    ├── ProfileError                the profile (connector.toml) is wrong or refused; exit 2
    │   └── ForbiddenFieldError     a field outside the allowlist was mapped; exit 2
    ├── ExportError                 the export can not be read as configured; exit 2
    ├── DataError                   the rows were read but too many are bad; exit 1
    ├── KeyFileError                a key file is missing, malformed or has the wrong kind; exit 2
    ├── PackageError                a package on disk is incomplete or fails verification; exit 1
    ├── SealError                   a sealed field or wrapped key does not open (opaque); exit 1
    └── UploadError                 the matcher refused the upload or could not be reached; exit 1

Every message says what was wrong, what was expected and what to do. Messages of errors that
can leave the company (upload) never contain values from the register.
"""

from __future__ import annotations

__all__ = [
    "ConnectorError",
    "DataError",
    "ExportError",
    "ForbiddenFieldError",
    "KeyFileError",
    "PackageError",
    "ProfileError",
    "SealError",
    "UploadError",
]


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""

    exit_code = 2


class ProfileError(ConnectorError):
    exit_code = 2


class ForbiddenFieldError(ProfileError):
    exit_code = 2


class ExportError(ConnectorError):
    exit_code = 2


class DataError(ConnectorError):
    exit_code = 1


class KeyFileError(ConnectorError):
    exit_code = 2


class PackageError(ConnectorError):
    exit_code = 1


class SealError(ConnectorError):
    """A sealed value or wrapped data key did not open. Deliberately says nothing more."""

    exit_code = 1

    def __init__(self) -> None:
        super().__init__("the sealed value could not be opened with this key and context")


class UploadError(ConnectorError):
    exit_code = 1
