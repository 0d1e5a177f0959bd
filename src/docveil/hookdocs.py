"""Render the plugin hook reference (docs/plugin_hooks.md) from ``docveil.hookspecs``.

Run ``python -m docveil.hookdocs > docs/plugin_hooks.md``; a test checks the file is current.
"""

from __future__ import annotations

import inspect
import sys
from types import FunctionType

from docveil import hookspecs

HEADER = """# Plugin hooks

docveil's stages are pluggy plugins. A plugin is a module or object with functions decorated
with `docveil.hookimpl`, named after the hooks below; it may accept any subset of a hook's
arguments. Register one through the `docveil` entry-point group of your package:

```toml
[project.entry-points.docveil]
my_plugin = "my_package.my_module"
```

or pass it to `Engine(plugins=[my_module])`. `docveil plugins` lists what is registered.
Block a plugin by name with the `blocked_plugins` setting or `DOCVEIL_BLOCK_PLUGINS`
(`docveil.security.access` and `docveil.security.audit` are essential and cannot be blocked;
a name no default plugin, installed entry point or given plugin has is an error, not ignored).
`DOCVEIL_TRACE_HOOKS=1` traces every hook call. Two plugins may not share a name.

An exception a hook raises (other than a `DocveilError`, which passes unchanged) comes out as a
`PluginError` naming the plugin and the hook, with the original chained as its cause: its message
is not repeated, since it may quote document text. During `Engine.ingest` it fails only the
document it was raised on. A failing `docveil_authorize` denies (audited); a failing
`docveil_audit_record` sink is logged and does not undo or fail the committed action.

This page is generated from `src/docveil/hookspecs.py`.
"""


def hook_functions() -> list[tuple[str, FunctionType]]:
    return [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if name.startswith("docveil_")]


def signature_of(fn: FunctionType) -> str:
    return f"{fn.__name__}{inspect.signature(fn)}".replace("'", "")


def render() -> str:
    parts = [HEADER]
    for _name, fn in sorted(hook_functions(), key=lambda item: inspect.getsourcelines(item[1])[1]):
        opts = getattr(fn, "docveil_spec", {}) or {}
        mode = "first result" if opts.get("firstresult") else "broadcast"
        doc = inspect.cleandoc(fn.__doc__ or "")
        parts.append(f"## `{signature_of(fn)}`\n\n*{mode}*\n\n{doc}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
