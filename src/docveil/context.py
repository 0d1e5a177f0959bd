"""Per-engine state shared with stage plugins: settings, hooks, and a typed stash."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from docveil.config import Settings

T = TypeVar("T")


class StashKey(Generic[T]):
    """A typed key into a ``Stash``; each plugin owns its keys."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


class Stash:
    """Per-engine storage for plugin state (loaded models), created once under a lock."""

    def __init__(self) -> None:
        self._values: dict[StashKey[Any], Any] = {}
        self._lock = threading.RLock()

    def get(self, key: StashKey[T], factory: Callable[[], T]) -> T:
        try:
            return cast(T, self._values[key])
        except KeyError:
            with self._lock:
                if key not in self._values:
                    self._values[key] = factory()
                return cast(T, self._values[key])

    def peek(self, key: StashKey[T]) -> T | None:
        return cast("T | None", self._values.get(key))

    def set(self, key: StashKey[T], value: T) -> None:
        with self._lock:
            self._values[key] = value


class StageContext:
    """What a stage plugin may use: the settings, the hook caller and the stash."""

    def __init__(self, settings: Settings, hook: Any, stash: Stash | None = None) -> None:
        self.settings = settings
        self.hook = hook
        self.stash = stash if stash is not None else Stash()
