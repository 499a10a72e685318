"""Staff accounts: users, roles, API tokens (CONTRACT §4).

The names below are what other domains, the web layer and the CLI may use; everything else
in this package is its own business.
"""
from node.accounts.models import LoginEvent, User
from node.accounts.passwords import login_events, set_password, sign_in
from node.accounts.service import (
    ROLE_NAMES_ZH,
    ROLES,
    add_user,
    authenticate,
    list_users,
    reissue_token,
    require_role,
)

__all__ = ["ROLES", "ROLE_NAMES_ZH", "LoginEvent", "User", "login_events", "set_password", "sign_in", "add_user", "authenticate", "list_users", "reissue_token",
           "require_role"]
