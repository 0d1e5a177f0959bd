"""Who is calling: an API key (``X-API-Key`` or ``Authorization: Bearer dvk_...``) or a JWT from
the configured issuer (``Authorization: Bearer <jwt>``), turned into a ``Principal``.

Failures are 401 with a ``WWW-Authenticate`` challenge (RFC 6750) whose description says what
was wrong with the credential, never what it contained.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import HTTPException

from docveil.config import Settings
from docveil.engine import Engine
from docveil.errors import ConfigError, MissingDependencyError
from docveil.security.api_keys import looks_like_key
from docveil.types import Principal, check_name

log = logging.getLogger(__name__)

REALM = "docveil"
NO_CREDENTIALS = "authentication required: an API key (X-API-Key) or a bearer token"


@dataclass(frozen=True)
class Caller:
    """An authenticated request: its principal and how it proved who it is."""

    principal: Principal
    method: Literal["api_key", "jwt"]
    key_id: str | None = None


def challenge(message: str, error: str | None = None) -> str:
    """The ``WWW-Authenticate`` header of a 401."""
    header = f'Bearer realm="{REALM}"'
    if error:
        header += f', error="{error}", error_description="{message}"'
    return header


def unauthenticated(message: str, *, error: str | None = None) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": challenge(message, error)})


class JwtVerifier:
    """Checks signature, ``exp``, ``nbf``, ``iss`` and ``aud`` of bearer tokens from one issuer and
    maps their claims to a principal. The accepted algorithm follows from the key type, so a
    token cannot pick a weaker one (or ``none``)."""

    def __init__(self, public_key: Any, *, issuer: str, audience: str, tenant_claim: str = "tenant",
                 user_claim: str = "sub", roles_claim: str = "roles", leeway: int = 30) -> None:
        try:
            import jwt
        except ImportError as exc:
            raise MissingDependencyError("JWT authentication", "'docveil[http]'") from exc
        self._jwt = jwt
        self.key = public_key
        self.algorithms = _algorithms_for(public_key)
        self.issuer = issuer
        self.audience = audience
        self.tenant_claim = tenant_claim
        self.user_claim = user_claim
        self.roles_claim = roles_claim
        self.leeway = leeway

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        if not settings.jwt_public_key:
            return None
        assert settings.jwt_issuer and settings.jwt_audience  # Settings checks this
        return cls(load_public_key(settings.jwt_public_key), issuer=settings.jwt_issuer,
                   audience=settings.jwt_audience, tenant_claim=settings.jwt_tenant_claim,
                   user_claim=settings.jwt_user_claim, roles_claim=settings.jwt_roles_claim,
                   leeway=settings.jwt_leeway)

    def principal(self, token: str) -> Principal:
        jwt = self._jwt
        try:
            claims = jwt.decode(token, self.key, algorithms=list(self.algorithms), audience=self.audience,
                                issuer=self.issuer, leeway=self.leeway,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the token has expired", error="invalid_token") from None
        except jwt.ImmatureSignatureError:
            raise unauthenticated("the token is not valid yet (nbf)", error="invalid_token") from None
        except jwt.InvalidAudienceError:
            raise unauthenticated("the token is not for this audience", error="invalid_token") from None
        except jwt.InvalidIssuerError:
            raise unauthenticated("the token is not from the configured issuer", error="invalid_token") from None
        except jwt.MissingRequiredClaimError as exc:
            raise unauthenticated(f"the token lacks the {exc.claim} claim", error="invalid_token") from None
        except jwt.InvalidTokenError:
            raise unauthenticated("the token is malformed or its signature does not verify",
                                  error="invalid_token") from None
        tenant = _claim(claims, self.tenant_claim)
        user = _claim(claims, self.user_claim)
        for what, name, value in (("tenant", self.tenant_claim, tenant), ("user", self.user_claim, user)):
            if value is None or value == "":
                raise unauthenticated(f"the token has no {what} claim {name!r}", error="invalid_token")
            if not isinstance(value, str):
                raise unauthenticated(f"the token's {what} claim {name!r} is a {type(value).__name__}, "
                                      "not a string", error="invalid_token")
        roles = _roles(_claim(claims, self.roles_claim), self.roles_claim)
        for what, names in (("tenant", [tenant]), ("user", [user]), ("roles", roles)):
            try:
                for name in names:
                    check_name(name, what)
            except ValueError as exc:
                # A token that passed authentication with a name the audit log cannot record
                # would make every later request fail.
                raise unauthenticated(f"the token's {what} claim is not a valid name: {exc}",
                                      error="invalid_token") from None
        return Principal(tenant=tenant, user=user, roles=roles)


def load_public_key(value: str) -> Any:
    """A public key from PEM text or a PEM file (``jwt_public_key``)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = value.strip()
    if not text.startswith("-----BEGIN"):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"jwt_public_key: cannot read PEM file {path} ({type(exc).__name__})") from None
    try:
        return load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError):
        raise ConfigError("jwt_public_key is not a PEM public key (RSA, EC P-256/P-384 or Ed25519)") from None


def _algorithms_for(key: Any) -> tuple[str, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return ("RS256",)
    if isinstance(key, ec.EllipticCurvePublicKey):
        by_curve = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name in by_curve:
            return (by_curve[key.curve.name],)
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return ("EdDSA",)
    raise ConfigError(f"jwt_public_key: unsupported key type {type(key).__name__}")


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by name; a dotted name that is not itself a claim walks nested objects
    (``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _roles(value: Any, claim: str) -> frozenset[str]:
    """A space-separated string (OAuth scopes) or a list of strings; no claim is no role. Any
    other shape refuses the token rather than dropping roles silently."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(item for item in value if item)
    raise unauthenticated(f"the token's roles claim {claim!r} is not a list of strings", error="invalid_token")


class Authenticator:
    """Resolves the credentials of a request against the engine's API keys and the JWT issuer."""

    def __init__(self, engine: Engine, jwt: JwtVerifier | None) -> None:
        self.engine = engine
        self.jwt = jwt

    def caller(self, bearer: str | None, api_key: str | None) -> Caller:
        if api_key is not None and bearer is not None:
            raise unauthenticated("send either an API key or a bearer token, not both", error="invalid_request")
        token = api_key if api_key is not None else bearer
        if not token:
            raise unauthenticated(NO_CREDENTIALS)
        if api_key is not None or looks_like_key(token):
            found = self.engine.principal_for_api_key(token)
            if found is None:
                log.info("rejected an unknown or revoked API key")
                raise unauthenticated("the API key is unknown or revoked", error="invalid_token")
            key_id, principal = found
            return Caller(principal, "api_key", key_id)
        if self.jwt is None:
            raise unauthenticated("bearer tokens are not accepted: this server has no JWT issuer "
                                  "configured (use an API key)", error="invalid_token")
        return Caller(self.jwt.principal(token), "jwt")
