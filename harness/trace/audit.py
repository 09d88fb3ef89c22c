"""One audit hook per process, dispatching by event name.

A traced TensorFlow process raises a few hundred thousand audit events (`builtins.id`,
`object.__getattr__`, `sys._getframe`); every Python audit hook is called for every one of
them, and audit hooks can never be removed. So the recorder installs exactly one, whose
whole cost for an event nobody watches is one dict lookup, and the watchers (file
operations in sinks.py, program starts in processes.py) register the event names they need.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

Handler = Callable[[str, tuple], None]

_handlers: dict[str, tuple[Handler, ...]] = {}
_installed = False


def _hook(event: str, args: tuple) -> None:
    handlers = _handlers.get(event)
    if handlers is None:
        return
    for handler in handlers:
        try:
            handler(event, args)
        except Exception:  # noqa: BLE001 - an audit hook that raises fails the target's own call
            pass


def watch(events: Iterable[str], handler: Handler) -> None:
    """Call `handler(event, args)` for each of `events` from now on (installs the hook once)."""
    global _installed
    for event in events:
        _handlers[event] = (*_handlers.get(event, ()), handler)
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


def unwatch(handler: Handler) -> None:
    """Stop calling `handler` (an in-process test recording twice must not see it again)."""
    for event, handlers in list(_handlers.items()):
        kept = tuple(h for h in handlers if h != handler)
        if kept:
            _handlers[event] = kept
        else:
            del _handlers[event]
