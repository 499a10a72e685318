"""Staff accounts: users, roles, API tokens (CONTRACT §4, §11; issue 13 item 5).

The names below are what other domains, the web layer and the CLI may use; everything else
in this package is its own business. Every change to an account or a token is written to the
audit log (``node.audit``) in the same transaction.
"""
from node.accounts.models import ApiToken, LoginEvent, User
from node.accounts.passwords import login_events, set_password, sign_in
from node.accounts.service import (
    ROLE_NAMES_ZH,
    ROLES,
    SCOPED_ROLES,
    add_user,
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
from node.accounts.tokens import DEFAULT_TOKEN_DAYS, authenticate, list_tokens, migrate_tokens, revoke_token

__all__ = ["ROLES", "ROLE_NAMES_ZH", "SCOPED_ROLES", "DEFAULT_TOKEN_DAYS", "ApiToken", "LoginEvent", "User", "login_events",
           "set_password", "sign_in", "add_user", "authenticate", "list_tokens", "list_users", "migrate_tokens",
           "reissue_token", "revoke_token", "require_role", "check_disable", "check_new_user", "check_role_change",
           "set_disabled", "set_role", "user_summaries", "user_summary"]
