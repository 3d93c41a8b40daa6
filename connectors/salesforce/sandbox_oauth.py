"""The OAuth 2.0 token endpoint of the Salesforce sandbox (``POST /services/oauth2/token``).

Grants: ``client_credentials`` (client id + secret, post body or Basic), ``refresh_token``
(rotation when the org enables it: the presented token dies, a new one comes back) and the JWT
bearer grant (RS256 assertion checked against the connected app's certificate: ``iss`` =
consumer key, ``aud`` = login URL, ``sub`` = the pre-authorised user, ``exp`` within 3 min).
Failures use OAuth's shape: ``{"error": "invalid_grant", "error_description": "expired
access/refresh token"}``.  Successful responses look like Salesforce's: ``instance_url``,
``id``, ``issued_at``, ``signature``, and no ``expires_in``.
"""

from __future__ import annotations

import base64
import hmac
import os
import time
from typing import Any

from aiohttp import web
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from connectors.salesforce.sandbox_state import SalesforceOrg

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ORG: web.AppKey[SalesforceOrg] = web.AppKey("voicebus_salesforce_org", SalesforceOrg)


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _client_of(request: web.Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None, None
        return user, password
    return form.get("client_id"), form.get("client_secret")


def _token_body(org: SalesforceOrg, refresh_token: str | None = None) -> dict[str, Any]:
    access = org.issue_session()
    issued = str(int(time.time() * 1000))
    signature = base64.b64encode(
        hmac.new(
            org.credentials.client_secret.encode(), (access + issued).encode(), "sha256"
        ).digest()
    ).decode()
    body = {
        "access_token": access,
        "instance_url": org.instance_url,
        "id": f"{org.login_url}/id/{org.org_id}/0055g00000SANDBOX",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": signature,
        "scope": "api",
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body


def _verify_assertion(org: SalesforceOrg, assertion: str) -> str | None:
    """None when the assertion is valid, else the error description."""
    creds = org.credentials
    if creds.jwt_public_key_pem is None:
        return "JWT bearer flow not configured for this connected app"
    try:
        token = jwt.decode(
            assertion, RSAKey.import_key(creds.jwt_public_key_pem), algorithms=["RS256"]
        )
    except (JoseError, ValueError):
        return "invalid assertion"
    claims = token.claims
    now = time.time()
    if claims.get("iss") != creds.client_id:
        return "invalid client credentials"
    if claims.get("aud") != org.login_url:
        return "audience is invalid"
    if claims.get("sub") != creds.username:
        return "user hasn't approved this consumer"
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp < now or exp > now + 180 + 5:  # 3 min + skew
        return "expired authorization code"
    return None


async def token_endpoint(request: web.Request) -> web.Response:
    org = request.app[ORG]
    form = {k: str(v) for k, v in (await request.post()).items()}
    grant = form.get("grant_type", "")
    creds = org.credentials
    with org.lock:
        org.token_requests[grant] += 1
    client_id, client_secret = _client_of(request, form)

    def fail(error: str, description: str) -> web.Response:
        with org.lock:
            org.token_failures[grant] += 1
        return _oauth_error(error, description)

    if grant == "client_credentials":
        if client_id != creds.client_id or client_secret != creds.client_secret:
            return fail("invalid_client", "invalid client credentials")
        return web.json_response(_token_body(org))
    if grant == "refresh_token":
        if client_id != creds.client_id or (
            client_secret is not None and client_secret != creds.client_secret
        ):
            return fail("invalid_client", "invalid client credentials")
        presented = form.get("refresh_token", "")
        with org.lock:
            if presented not in creds.refresh_tokens:
                return fail("invalid_grant", "expired access/refresh token")
            rotated = None
            if org.rotate_refresh_tokens:
                rotated = f"5Aep861{os.urandom(18).hex()}"
                creds.refresh_tokens.discard(presented)
                creds.refresh_tokens.add(rotated)
        return web.json_response(_token_body(org, rotated))
    if grant == JWT_GRANT:
        problem = _verify_assertion(org, form.get("assertion", ""))
        if problem is not None:
            return fail("invalid_grant", problem)
        return web.json_response(_token_body(org))
    return fail("unsupported_grant_type", "grant type not supported")
