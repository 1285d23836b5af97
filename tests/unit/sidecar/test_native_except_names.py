"""A mypyc gotcha held off the compiled modules: one name bound by two `except ... as`.

Compiled, a local takes the type of its first binding, so in

    except ConnectFailure as exc: ...
    except AttemptError as exc: ...

an AttemptError that is not a ConnectFailure raised TypeError inside the handler. It did
in `SpanExporter._post`: a refused connection to the OTLP endpoint ended the sidecar's
export task for good (no span left the sidecar again). Python runs such code fine, so only
the compiled build showed it; this reads the sources of every compiled module.
"""

from __future__ import annotations

import ast

from mesh_runtime.sidecar import native
from tests.conftest import REPO_ROOT


def except_names_of_two_types(tree: ast.AST) -> list[str]:
    """`function: name (type, type)` for each function binding `name` in handlers of
    different types."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        bound: dict[str, set[str]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                bound.setdefault(node.name, set()).add(ast.unparse(node.type))
        found += [f"{function.name}: {name} {sorted(types)}" for name, types in bound.items()
                  if len(types) > 1]  # fmt: skip
    return found


def test_the_check_finds_the_pattern() -> None:
    source = (
        "async def post():\n"
        "    try:\n        pass\n"
        "    except ConnectFailure as exc:\n        pass\n"
        "    except AttemptError as exc:\n        pass\n"
    )
    assert except_names_of_two_types(ast.parse(source)) == [
        "post: exc ['AttemptError', 'ConnectFailure']"
    ]


def test_no_compiled_module_binds_one_name_to_two_exception_types() -> None:
    problems = []
    for module in native.HOT_MODULES:
        # The source in the tree, not what `import` finds: once a test has put the compiled
        # build on the path, that is the module's .so.
        source = REPO_ROOT / (module.replace(".", "/") + ".py")
        tree = ast.parse(source.read_text(encoding="utf-8"))
        problems += [f"{module}.{found}" for found in except_names_of_two_types(tree)]
    assert problems == []
