"""Auth failures of the shared OAuth 2.0 layer, as ``connectors.base.errors`` classes.

Both are ``AuthError``: the runtime pauses the connector and dead-letters nothing.  Messages
name the target, the grant and what to do; never a token, secret or the token endpoint's body.
"""

from __future__ import annotations

from connectors.base.errors import AuthError


class CredentialsRevoked(AuthError):
    """The token endpoint answered ``invalid_grant``: the refresh token (or the JWT grant's
    user authorisation) was revoked or expired.  No amount of retrying helps; a person has to
    re-authorise the integration."""


class TokenRejected(AuthError):
    """The API refused an access token that was just refreshed (401 twice in a row)."""
