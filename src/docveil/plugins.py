"""The plugin manager: default plugins, entry points, blocking by name."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from docveil import hookspecs
from docveil.config import Settings
from docveil.errors import DocveilError, PluginError

ENTRY_POINT_GROUP = "docveil"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "docveil.stages.load.text",
    "docveil.stages.load.html",
    "docveil.stages.load.pdf",
    "docveil.stages.load.image",
    "docveil.stages.load.docx",
    "docveil.stages.load.eml",
    "docveil.stages.detect.pii_text",
    "docveil.stages.detect.ocr",
    "docveil.stages.detect.faces",
    "docveil.stages.detect.plates",
    "docveil.stages.redact.operators",
    "docveil.stages.chunk",
    "docveil.stages.encode.text",
    "docveil.stages.encode.image",
    "docveil.ask.extractive",
    "docveil.ask.openai_compatible",
    "docveil.ask.local_llm",
    "docveil.security.keys",
    "docveil.security.access",
    "docveil.security.audit",
)

# Audit and access policy cannot be switched off: they are what makes the rest safe.
ESSENTIAL_PLUGINS: frozenset[str] = frozenset({"docveil.security.access", "docveil.security.audit"})


def _module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise PluginError(f"default plugin {name} failed to import: {exc}") from exc


def blocked_names(settings: Settings) -> tuple[str, ...]:
    from_env = os.environ.get("DOCVEIL_BLOCK_PLUGINS", "")
    names = tuple(settings.blocked_plugins) + tuple(n.strip() for n in from_env.split(",") if n.strip())
    for name in names:
        if name in ESSENTIAL_PLUGINS:
            raise PluginError(f"plugin {name} cannot be blocked: it is essential")
    return names


def make_plugin_manager(settings: Settings, extra_plugins: Iterable[Any] = ()) -> pluggy.PluginManager:
    """A fresh manager for one engine: defaults, then entry points, then ``extra_plugins``."""
    pm = pluggy.PluginManager("docveil")
    pm.add_hookspecs(hookspecs)
    blocked = blocked_names(settings)
    for name in blocked:
        pm.set_blocked(name)
    for name in DEFAULT_PLUGINS:
        if not pm.is_blocked(name):
            pm.register(_module(name), name=name)
    if settings.load_entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken third-party package must say which one
            raise PluginError(f"loading plugins from entry point group {ENTRY_POINT_GROUP!r} failed: {exc}") from exc
    extra_names = []
    for plugin in extra_plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if pm.has_plugin(name):
            raise PluginError(f"two plugins are named {name!r}: give one a distinct __name__")
        extra_names.append(name)
        if not pm.is_blocked(name):
            pm.register(plugin, name=name)
    unknown = sorted(set(blocked) - {*DEFAULT_PLUGINS, *extra_names})
    if unknown:  # installed plugins are looked up only when a name is not a given one
        unknown = sorted(set(unknown) - {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
    if unknown:  # a misspelt name would leave the plugin it meant running
        raise PluginError(f"cannot block {', '.join(map(repr, unknown))}: no plugin has that name "
                          "(see docveil plugins)")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    _wrap_hook_errors(pm)
    if os.environ.get("DOCVEIL_TRACE_HOOKS"):
        _trace_hook_calls(pm)
    return pm


def _wrap_hook_errors(pm: pluggy.PluginManager) -> None:
    """A hook implementation's own exception comes out as a ``PluginError`` naming the plugin
    and the hook. Its message stays on the chained cause only: it may quote document text."""

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        pass

    def after(outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl],
              kwargs: Mapping[str, Any]) -> None:
        exc = outcome.exception
        if not isinstance(exc, Exception) or isinstance(exc, DocveilError):
            return
        error = PluginError(f"plugin {_raising_plugin(exc, impls)} failed in hook {hook_name}"
                            f" ({type(exc).__name__}; its message is kept on the chained exception)")
        error.__cause__ = exc
        outcome.force_exception(error)

    pm.add_hookcall_monitoring(before, after)


def _raising_plugin(exc: BaseException, impls: Sequence[pluggy.HookImpl]) -> str:
    """The plugin whose implementation the traceback of ``exc`` passes through first."""
    names = {}
    for impl in impls:
        function = getattr(impl.function, "__func__", impl.function)  # a plugin object's method
        code = getattr(function, "__code__", None)
        if code is not None:
            names[code] = impl.plugin_name
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in names:
            return names[tb.tb_frame.f_code]
        tb = tb.tb_next
    return " or ".join(sorted({impl.plugin_name for impl in impls})) or "(none)"


def _trace_hook_calls(pm: pluggy.PluginManager) -> None:
    """Log each hook call and the plugins it reaches at DEBUG; never the arguments, which
    carry document text."""
    log = logging.getLogger("docveil.hooks")

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        log.debug("call %s -> %s", hook_name, ", ".join(impl.plugin_name for impl in impls))

    def after(outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl],
              kwargs: Mapping[str, Any]) -> None:
        log.debug("done %s%s", hook_name, " (raised)" if outcome.exception is not None else "")

    pm.add_hookcall_monitoring(before, after)


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Registered plugins, with the hooks each implements, for ``docveil plugins``."""
    rows = []
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        rows.append({
            "name": name,
            "hooks": sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()),
            "package": f"{dist.project_name} {dist.version}" if dist else None,
            "essential": name in ESSENTIAL_PLUGINS,
        })
    return rows
