"""Access policy: the essential default plugin and the deny-wins combination of all policies.

Every principal may ingest, redact and search within its own tenant (row-level security and
document ACLs narrow what it sees). Privileged actions need a role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docveil.context import StageContext
from docveil.errors import PluginError
from docveil.hookspecs import hookimpl
from docveil.types import Principal

ADMIN = "admin"

# Actions that need one of these roles; any other action is open to members of the tenant.
REQUIRED_ROLES: Mapping[str, frozenset[str]] = {
    "reidentify": frozenset({"reidentify"}),
    "forget": frozenset({"privacy-officer", ADMIN}),
    "audit.read": frozenset({"auditor", ADMIN}),
    "audit.mac_key": frozenset({ADMIN}),
    "keys.rotate": frozenset({ADMIN}),
    "acl.change": frozenset({ADMIN}),
    "documents.delete": frozenset({ADMIN}),
    "model.train": frozenset({ADMIN}),
}


@hookimpl
def docveil_authorize(principal: Principal, action: str, resource: Mapping[str, Any]) -> bool | None:
    tenant = resource.get("tenant")
    if tenant is not None and tenant != principal.tenant:
        return False
    if action in ("acl.change", "documents.delete") and resource.get("owner") == principal.user:
        return True
    required = REQUIRED_ROLES.get(action)
    return required is None or bool(principal.roles & required)


def authorize(hook: Any, context: StageContext, principal: Principal, action: str,
              resource: Mapping[str, Any]) -> bool:
    """All policies are asked; any False denies, and at least one must allow."""
    votes = hook.docveil_authorize(principal=principal, action=action, resource=dict(resource), context=context)
    for vote in votes:
        if not isinstance(vote, bool):  # an empty set or 0 is a mistake, not an abstention
            raise PluginError(f"an authorize policy returned {type(vote).__name__}; a vote is True, False or None")
    return bool(votes) and all(vote is not False for vote in votes) and any(vote is True for vote in votes)
