"""Test plugins: access policies that vote beside the essential default one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from docveil.hookspecs import hookimpl
from docveil.types import Principal


class BlocklistPolicy:
    """Denies some actions to some users; abstains on everything else."""

    def __init__(self, users: Iterable[str], actions: Iterable[str] = ("search",)) -> None:
        self.users = frozenset(users)
        self.actions = frozenset(actions)

    @hookimpl
    def docveil_authorize(self, principal: Principal, action: str, resource: Mapping[str, Any]) -> bool | None:
        if principal.user in self.users and action in self.actions:
            return False
        return None


class AllowEverythingPolicy:
    """Votes to allow every action: it must not be able to outvote a deny."""

    @hookimpl
    def docveil_authorize(self, principal: Principal, action: str, resource: Mapping[str, Any]) -> bool | None:
        return True
