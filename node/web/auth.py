"""Bearer-token authentication for the staff API (CONTRACT §4)."""
from __future__ import annotations

from flask import current_app, g, request

from node.accounts.models import User
from node.accounts import service as users


def current_node():
    return current_app.config["NODE"]


def current_user(*roles: str) -> User:
    """The authenticated user; with ``roles``, also require one of them (else 403)."""
    user = getattr(g, "user", None)
    if user is None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        node = current_node()
        user = users.authenticate(token, node.cache.setdefault("tokens", {}))
        g.user = user
    if roles:
        users.require_role(user, *roles)
    return user
