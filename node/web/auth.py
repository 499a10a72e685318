"""Bearer-token authentication for the staff API (CONTRACT §4, §11).

The token is looked up in the database on every request (no cache): a revoked or expired token
and a disabled login get 401 at the very next request (issue 13 item 5).
"""
from __future__ import annotations

from flask import current_app, g, request

from node.accounts import SCOPED_ROLES, User, authenticate, require_role


def current_node():
    return current_app.config["NODE"]


def current_user(*roles: str) -> User:
    """The authenticated user; with ``roles``, also require one of them (else 403). A scoped role
    (``monitor``) is refused where no roles are named."""
    user = getattr(g, "user", None)
    if user is None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        user = authenticate(token, now=current_node().now())
        g.user = user
    if roles or user.role in SCOPED_ROLES:
        require_role(user, *roles)
    return user
