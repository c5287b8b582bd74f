"""OpenID Connect, this service's side as relying party: the authorization code flow with PKCE,
state and nonce, and the ID token's checks.

The flow: :meth:`Provider.begin` makes a :class:`Pending` (state, nonce, PKCE verifier; the
browser carries it in a signed cookie) and the provider's authorization URL; the provider
sends the browser back with a code; :meth:`Provider.finish` checks the state, trades the code
(and the verifier) for tokens at the token endpoint, and checks the ID token: signature by a
key of the provider's JWKS (fetched again once when a token names a key we do not have, so a
provider's key rotation needs nothing here), issuer, audience (and ``azp``), expiry and
issue time within the issuer's leeway, and the nonce of this very sign-in (a token of an
earlier sign-in, replayed, names another nonce). Then the second factor when the issuer asks
for one (``acr``/``amr``). Every failure is an :class:`OpenIdRefused` with a short reason for
the audit log; the provider's answers themselves are never logged.

OAuth (authorization URL, PKCE, token endpoint, refresh) is authlib's; JOSE (JWKS, JWS, claims)
is joserfc's. Nothing here is hand-written cryptography.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import authlib.deprecate  # noqa: F401 - sets an "always" filter; the one below must come after
import httpx

with warnings.catch_warnings():
    # authlib warns, always, that it runs on httpx rather than httpx2; httpx is what this
    # project uses throughout, and a warning on standard error would break serve's JSON logs.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jws, jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from matcher.settings import OpenIdIssuer

__all__ = ["OpenIdRefused", "Pending", "Provider", "Providers", "SignedIn"]

# What this service accepts as ID token signatures: the asymmetric ones (a client secret is no
# key for an ID token another party could also have minted).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
METADATA_SECONDS = 3600
# A token naming an unknown key fetches the JWKS again, but not more often than this.
JWKS_REFETCH_SECONDS = 2
TIMEOUT_SECONDS = 10
_CLAIM_REASONS = {"iss": "id-token-issuer", "aud": "id-token-audience", "exp": "id-token-expired"}


class OpenIdRefused(Exception):
    """A sign-in at a provider did not go through. ``reason`` is short and fixed (it goes to
    the audit log and onto the page), never the provider's own words or a token."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Pending:
    """One sign-in under way: what the browser brings back to the callback (signed)."""

    issuer: str
    state: str
    nonce: str
    verifier: str = field(repr=False)
    next: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "i": self.issuer,
            "s": self.state,
            "n": self.nonce,
            "v": self.verifier,
            "x": self.next,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Pending | None:
        values = [raw.get(key) for key in ("i", "s", "n", "v", "x")]
        strings = [value for value in values if isinstance(value, str)]
        if len(strings) != len(values):
            return None
        return cls(*strings)


@dataclass(frozen=True)
class SignedIn:
    """A person the provider vouched for: the ID token's claims and the refresh token (for
    the later checks that the person is still there), if the provider gave one."""

    claims: dict[str, Any]
    refresh_token: str | None = field(default=None, repr=False)


class Provider:
    """One configured issuer: its metadata and keys, fetched when first needed and cached."""

    def __init__(
        self,
        issuer: OpenIdIssuer,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    # -- metadata and keys ---------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with httpx.Client(transport=self._transport, timeout=TIMEOUT_SECONDS) as http:
                answer = http.get(url)
                answer.raise_for_status()
                found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OpenIdRefused(
                "provider-unreachable",
                f"the identity provider {self.issuer.label} did not answer as expected",
            ) from exc
        if not isinstance(found, dict):
            raise OpenIdRefused("provider-unreachable", "the provider's answer is not an object")
        return found

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None or self._clock() - self._metadata_at > METADATA_SECONDS:
                found = self._get_json(self.issuer.metadata)
                if found.get("issuer") != self.issuer.issuer:
                    # The metadata must be the configured issuer's own (OpenID Discovery 4.3).
                    raise OpenIdRefused(
                        "provider-misconfigured",
                        "the provider's metadata names another issuer than configured",
                    )
                self._metadata, self._metadata_at = found, self._clock()
            return self._metadata

    def _endpoint(self, name: str) -> str:
        url = self.metadata().get(name)
        if not isinstance(url, str):
            raise OpenIdRefused("provider-misconfigured", f"the provider's metadata has no {name}")
        return url

    def _key_set(self, kid: str | None) -> KeySet:
        jwks_uri = self._endpoint("jwks_uri")
        with self._lock:
            known = self._keys is not None and (
                kid is None or any(key.kid == kid for key in self._keys.keys)
            )
            due = self._clock() - self._keys_at > JWKS_REFETCH_SECONDS
            if not known and (self._keys is None or due):
                try:
                    self._keys = KeySet.import_key_set(self._get_json(jwks_uri))  # type: ignore[arg-type]
                except (JoseError, ValueError, KeyError) as exc:
                    raise OpenIdRefused(
                        "provider-misconfigured", "the provider's key set could not be read"
                    ) from exc
                self._keys_at = self._clock()
            assert self._keys is not None
            return self._keys

    # -- the flow --------------------------------------------------------------------------

    def _client(self, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.issuer.client_id,
            client_secret=self.issuer.client_secret(),
            scope=" ".join(self.issuer.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=TIMEOUT_SECONDS,
            transport=self._transport,
        )

    def begin(self, redirect_uri: str, next_page: str) -> tuple[Pending, str]:
        """A new sign-in: what the browser keeps, and where to send it."""
        pending = Pending(
            issuer=self.issuer.name,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            next=next_page,
        )
        with self._client(redirect_uri) as client:
            url, _state = client.create_authorization_url(
                self._endpoint("authorization_endpoint"),
                state=pending.state,
                code_verifier=pending.verifier,
                nonce=pending.nonce,
            )
        return pending, str(url)

    def finish(self, pending: Pending, state: str, code: str, redirect_uri: str) -> SignedIn:
        """The callback: the code traded for tokens, the ID token checked."""
        if not hmac.compare_digest(pending.state.encode(), state.encode()):
            raise OpenIdRefused("state-mismatch", "the sign-in came back for another attempt")
        token_endpoint = self._endpoint("token_endpoint")
        try:
            with self._client(redirect_uri) as client:
                tokens = client.fetch_token(
                    token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.verifier,
                )
        except (OAuthError, httpx.HTTPError, ValueError) as exc:
            raise OpenIdRefused(
                "code-refused", "the provider did not trade the sign-in code for tokens"
            ) from exc
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OpenIdRefused("id-token-missing", "the provider sent no ID token")
        claims = self.check_id_token(id_token, pending.nonce)
        refresh = tokens.get("refresh_token")
        return SignedIn(claims, refresh if isinstance(refresh, str) else None)

    def check_id_token(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        """The ID token's claims, if it is this provider's, for this client and this sign-in.
        ``nonce`` None: a token from a refresh, which carries none (Core 12.2) and no new
        authentication (the second factor was checked at the sign-in)."""
        try:
            header = jws.extract_compact(id_token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError) as exc:
            raise OpenIdRefused("id-token-malformed", "the ID token is not a signed JWT") from exc
        kid = header.get("kid")
        try:
            token = jwt.decode(
                id_token,
                self._key_set(kid if isinstance(kid, str) else None),
                algorithms=list(ALGORITHMS),
            )
        except (JoseError, ValueError) as exc:
            raise OpenIdRefused(
                "id-token-signature",
                "the ID token is not signed by a key of the provider",
            ) from exc
        claims = dict(token.claims)
        issuer = self.issuer
        registry = jwt.JWTClaimsRegistry(
            leeway=issuer.leeway_seconds,
            iss={"essential": True, "value": issuer.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": issuer.client_id},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ClaimError as exc:
            reason = _CLAIM_REASONS.get(exc.claim, "id-token-claims")
            if isinstance(exc, ExpiredTokenError):
                reason = "id-token-expired"
            raise OpenIdRefused(reason, "the ID token's claims do not hold") from exc
        audience = claims.get("aud")
        # Several audiences: the authorised party must be us (OpenID Connect Core 3.1.3.7).
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != issuer.client_id:
            raise OpenIdRefused("id-token-audience", "the ID token is for another party")
        if nonce is None:
            return claims
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(
            token_nonce.encode(), nonce.encode()
        ):
            raise OpenIdRefused("id-token-nonce", "the ID token belongs to another sign-in")
        self._check_second_factor(claims)
        return claims

    def _check_second_factor(self, claims: Mapping[str, Any]) -> None:
        issuer = self.issuer
        if not issuer.require_acr and not issuer.require_amr:
            return
        acr = claims.get("acr")
        amr = claims.get("amr")
        methods = set(amr) if isinstance(amr, list) else set()
        if (isinstance(acr, str) and acr in issuer.require_acr) or methods & set(
            issuer.require_amr
        ):
            return
        raise OpenIdRefused(
            "second-factor-missing", "the sign-in at the provider used no second factor"
        )

    def recheck(self, refresh_token: str, redirect_uri: str) -> tuple[str, dict[str, Any] | None]:
        """Ask the provider whether the person is still there (a refresh-token grant): the
        refresh token to keep (rotated or the same), and the claims of the fresh ID token if
        the provider sent one (their groups now). Refused: the provider said no."""
        token_endpoint = self._endpoint("token_endpoint")
        try:
            with self._client(redirect_uri) as client:
                tokens = client.refresh_token(token_endpoint, refresh_token=refresh_token)
        except OAuthError as exc:
            raise OpenIdRefused(
                "provider-ended", "the provider no longer vouches for this person"
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise OpenIdRefused("provider-unreachable", "the provider could not be asked") from exc
        fresh = tokens.get("refresh_token")
        id_token = tokens.get("id_token")
        claims = self.check_id_token(id_token, None) if isinstance(id_token, str) else None
        if claims is not None and claims.get("sub") is None:
            claims = None
        return (fresh if isinstance(fresh, str) else refresh_token), claims


class Providers:
    """The configured issuers by name, each :class:`Provider` made once per process."""

    def __init__(
        self,
        issuers: tuple[OpenIdIssuer, ...],
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._providers = {i.name: Provider(i, transport=transport) for i in issuers}

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name)
