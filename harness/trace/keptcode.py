"""Which code is evidence: the recorder's decision per globals dict and per code object.

A mixin of the `Recorder` (the backends call `identify`, `known` and `name_verdict` as bound
methods of the recorder: no per-event indirection). The namespace is decided by the module
of the running code: its globals' `__name__` (the name it was imported as, cached per
globals dict when first seen, so a module that renames itself later is still reported by
that name, with a note), its `__spec__`, and for code run with borrowed globals, the file it
came from; never by a path prefix alone. Kept code is cached per code object. Seeing a
guarded module's (torch) code run is noted here too, where its globals are first judged.

Runs inside the traced process: standard library only, Python 3.10+.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, Any

from ..summarize import scrub
from .anchors import Anchor, AnchorIndex
from .eventstream import EventStream

_identity = object.__hash__  # unique per live object, like id(), but raises no audit event
_IMPORT_MACHINERY = ("<frozen importlib", "importlib/", "importlib\\")
_LOOK_AT_CODE = "?"  # globals that belong to no module: decide by the code's own file
_dict_get = dict.get


def _module_dict(namespace: dict) -> bool:
    """Is this globals dict the `__dict__` of the module imported under its `__name__`?"""
    name = _dict_get(namespace, "__name__")
    if type(name) is not str:
        return False
    module = sys.modules.get(name)
    try:
        return module is not None and object.__getattribute__(module, "__dict__") is namespace
    except AttributeError:
        return False


class KeptCode:
    """The Recorder's namespace decisions (its attributes are declared here for mypy)."""

    namespace: str
    _names: tuple[str, ...]
    _prefix: tuple[str, ...]
    anchors: AnchorIndex
    stream: EventStream
    describe: Callable[[str, int], str]
    phase: str
    _keep: dict[int, tuple[Any, tuple[str, Anchor]]]
    _globals: dict[int, tuple[dict, str | None]]
    by_name: dict[Any, Any]
    _root_prefix: str
    torch_executed: dict[str, str]
    guarded: tuple[str, ...]

    if TYPE_CHECKING:  # defined by the Recorder

        def _internal(self, error: BaseException) -> None: ...

    def in_namespace(self, module: str | None) -> bool:
        return bool(module) and type(module) is str and (module in self._names or module.startswith(self._prefix))

    def globals_entry(self, namespace: dict, frame=None) -> tuple[dict, str | None]:
        """(globals, module name | None | '?') for one globals dict, decided when first seen.

        The name is the one the module had when its first frame ran (its import name), so a
        later `__name__ = 'x'` does not drop its calls. '?' means the dict belongs to no
        imported module (e.g. `exec` into a fresh dict): the code's file decides."""
        key = _identity(namespace)
        entry = self._globals.get(key)
        if entry is not None and entry[0] is namespace:
            return entry
        try:
            decided = self._name_of_globals(namespace, frame)
        except Exception as error:  # noqa: BLE001 - a hostile globals dict must not break the run
            self._internal(error)
            decided = None
        entry = (namespace, decided)
        if _module_dict(namespace):
            # Only a module's own dict is remembered (it lives as long as the module): keeping
            # every exec() namespace alive (namedtuple, dataclass code) would cost memory and GC time.
            self._globals[key] = entry
        return entry

    def name_verdict(self, frame) -> Any:
        """For per-frame filters keyed by `__name__` (the settrace hot path): False when every
        frame with this globals name is foreign, True when it names a namespace module, '?'
        when the code object must decide (generated code, a module that renamed itself).
        Stored in `self.by_name`, which the filter reads directly."""
        namespace = frame.f_globals
        name = _dict_get(namespace, "__name__")
        decided = self.globals_entry(namespace, frame)[1]
        verdict = False if decided is None else True if decided == name else _LOOK_AT_CODE
        try:
            if self.by_name.get(name) is not _LOOK_AT_CODE:
                self.by_name[name] = verdict
        except TypeError:  # an unhashable __name__: decide on every call (it is never kept by name)
            return _LOOK_AT_CODE
        return verdict

    def _refresh_renamed(self) -> None:
        """A namespace module renamed to a name already judged foreign: decide its frames per code."""
        for _name, current in self.renamed_modules():
            if self.by_name.get(current) is False:
                self.by_name[current] = _LOOK_AT_CODE

    def _name_of_globals(self, namespace: dict, frame) -> str | None:
        name = _dict_get(namespace, "__name__")
        spec = _dict_get(namespace, "__spec__")
        spec_name = spec.name if type(spec) is ModuleSpec and type(spec.name) is str else None
        for candidate in (name, spec_name):
            if type(candidate) is str and candidate.partition(".")[0] in self.guarded:
                self._torch(candidate, frame)
        if self.in_namespace(name):
            return name
        if self.in_namespace(spec_name):
            return spec_name
        if type(name) is str and name in sys.modules:
            return None
        return _LOOK_AT_CODE

    def _module_of_file(self, filename: str) -> str | None:
        """Dotted module name of a source file under the target root, if it is in the namespace."""
        if type(filename) is not str or not filename.startswith(self._root_prefix) or not filename.endswith(".py"):
            return None
        parts = filename[len(self._root_prefix) : -3].split(os.sep)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join(parts)
        return module if self.in_namespace(module) else None

    def identify(self, code, frame=None) -> tuple[str, Anchor] | None:
        """(module, anchor) for kept code, None for foreign code.

        Kept code is cached per code object, keyed by the object's identity with the code
        object kept alive: code objects that differ only in their file name compare equal
        (every empty `__init__.py`), and a freed code's id can be reused, either of which
        would silently lose calls. The key is `object.__hash__(code)` rather than `id(code)`
        because `id()` raises an audit event. The module comes from the running frame's
        globals (the caller's caller when no frame is given).

        Foreign code is not cached here: its verdict is one cached lookup per globals dict
        (`globals_entry`), and the backends ask again rarely (sys.monitoring disables it,
        settrace filters by module name first). Keeping tens of thousands of TensorFlow's
        short-lived code objects alive would keep their constants alive too, and those
        survivors bring the interpreter's full collections nearer: on real main one more
        full collection, ~0.2 s of a 4 s process, for nothing."""
        key = _identity(code)
        entry = self._keep.get(key)
        if entry is not None and entry[0] is code:
            return entry[1]
        found = None
        try:
            frame = frame or sys._getframe(2)
            module = self.globals_entry(frame.f_globals, frame)[1]
            if module == _LOOK_AT_CODE:
                module = self._module_of_file(code.co_filename)
            if module is not None:
                found = (module, self._anchor(code))
        except Exception as error:  # noqa: BLE001
            self._internal(error)
        if found is not None:
            self._keep[key] = (code, found)
        return found

    def _anchor(self, code) -> Anchor:
        """The def-line anchor; generated code (`compile(src, 'name.py')`, `<string>`) has none."""
        filename = code.co_filename
        if not filename or not os.path.isabs(filename):
            return Anchor(None, None, getattr(code, "co_qualname", code.co_name))
        anchor = self.anchors.resolve(code)
        if anchor.path and os.path.isabs(anchor.path):
            return Anchor(scrub(anchor.path), anchor.line, anchor.qualname)
        return anchor

    def known(self, code) -> tuple[str, Anchor] | None:
        """The cached identity of code already seen, without any lookup of its frame."""
        entry = self._keep.get(_identity(code))
        return entry[1] if entry is not None and entry[0] is code else None

    def _torch(self, module: str, frame) -> None:
        """A guarded (torch) module's code runs: note once who imported it (the first frame
        outside it and outside the import machinery)."""
        if module in self.torch_executed:
            return
        where = "<unknown>"
        while frame is not None:
            filename = frame.f_code.co_filename
            if _dict_get(frame.f_globals, "__name__") != module and not any(m in filename for m in _IMPORT_MACHINERY):
                where = self.describe(filename, frame.f_lineno)
                break
            frame = frame.f_back
        self.torch_executed[module] = where
        self.stream.emit("torch", module=module, importer=where, ph=self.phase, t=self.stream.now())

    def renamed_modules(self) -> list[tuple[str, str]]:
        """(import name, current __name__) of namespace modules that renamed themselves."""
        found = []
        for namespace, name in self._globals.values():
            if name is None or name == _LOOK_AT_CODE:
                continue
            current = _dict_get(namespace, "__name__")
            if current != name:
                found.append((name, current if type(current) is str else type(current).__name__))
        return sorted(set(found))
