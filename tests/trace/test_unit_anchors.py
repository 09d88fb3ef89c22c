"""Def-line anchors: the tokenizer's reading of decorated definitions (3.11+) gives what the
AST index gives (the 3.10 path), on sources built to mislead a line-based reader."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest

from harness.trace.anchors import AnchorIndex, index_source

TRICKY = '''
import functools

def deco(*args, **kwargs):
    return lambda f: f

@deco(
    "def fake(): pass",
    note="""
@deco
def fake2():
""",
)
def real(x):
    return x

@deco
@deco(lambda: [1, {2: (3)}])  # def commented(): here
async def coroutine():
    return 1

@functools.total_ordering
class Klass:
    @property
    def value(self):
        return 1

    @staticmethod
    @deco(f"{'def'} {{x}}")
    def static():
        return lambda: 0

def outer():
    @deco
    def inner():
        pass
    return inner

matrix = (2
          @ 3 if False else None)
'''


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10 resolves through the AST index itself")
def test_decorated_definitions_resolve_to_the_lines_the_ast_gives(tmp_path):
    source = textwrap.dedent(TRICKY)
    path = tmp_path / "tricky.py"
    path.write_text(source)
    table = index_source(source)
    index = AnchorIndex(str(tmp_path))
    checked = {}
    for code in _codes(compile(source, str(path), "exec")):
        expected = table.get((code.co_firstlineno, code.co_name))
        checked[code.co_qualname] = index.resolve(code).line
        assert index.resolve(code).line == (expected[0] if expected else code.co_firstlineno), code.co_qualname
    lines = source.splitlines()
    assert lines[checked["real"] - 1].startswith("def real(")
    assert lines[checked["coroutine"] - 1].startswith("async def coroutine(")
    assert lines[checked["Klass"] - 1].startswith("class Klass:")
    assert lines[checked["Klass.static"] - 1].strip().startswith("def static(")
    assert lines[checked["outer.<locals>.inner"] - 1].strip().startswith("def inner(")
