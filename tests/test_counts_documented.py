"""Every count that ``stats()`` can show is named in the README."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sentry_logging_std"


def counted_names() -> dict[str, str]:
    """Each name the package counts under, with the module that counts it.

    Found in the source: the first argument of a ``.count(...)`` call and the
    key of a subscripted ``...counts[...]`` (a string, or a module constant
    naming one), and the reasons a failed send is counted under.
    """
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value.value, str)
        }

        def name_of(node: ast.AST, constants: dict[str, str] = constants) -> str | None:
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            if isinstance(node, ast.Name):
                return constants.get(node.id)
            return None

        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("count", "_count") and node.args:
                    name = name_of(node.args[0])
            elif isinstance(node, ast.Subscript):
                target = node.value
                label = (
                    target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                )
                if label.endswith("counts"):
                    name = name_of(node.slice)
            elif isinstance(node, ast.FunctionDef) and node.name == "_failure_reason":
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and ret.value is not None:
                        returned = name_of(ret.value)
                        if returned:
                            found[returned] = path.name
            if name and not name.endswith("_"):  # a prefix ("deferred_" + reason) is not a name
                found[name] = path.name
    return found


def test_the_source_counts_what_this_test_looks_for() -> None:
    """The scan finds the counts it must (so the next test cannot pass by finding none)."""
    names = counted_names()
    for expected in ("sent", "dropped_queue_full", "dropped_capture_queue_full", "dropped_at_exit"):
        assert expected in names


def test_every_count_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = {name: where for name, where in counted_names().items() if f"`{name}`" not in readme}
    assert not missing, f"counted but not in README.md: {missing}"
