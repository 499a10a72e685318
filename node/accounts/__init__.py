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
    check_disable,
    check_new_user,
    check_role_change,
    list_users,
    reissue_token,
    require_role,
    set_disabled,
    set_role,
    user_summaries,
    user_summary,
)

__all__ = ["ROLES", "ROLE_NAMES_ZH", "LoginEvent", "User", "login_events", "set_password", "sign_in", "add_user", "authenticate", "list_users", "reissue_token",
           "require_role", "check_disable", "check_new_user", "check_role_change", "set_disabled", "set_role",
           "user_summaries", "user_summary"]
