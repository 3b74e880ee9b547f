"""The shape of the code: no import cycle, small modules, no reading of another module's privates.

All three read the source of ``tsgate/`` and ``cli/`` (installed as ``tsgate.cli``) with ``ast``;
nothing is imported.

Import graph
    One node per module (``tsgate/data/series.py`` is ``tsgate.data.series``, a package's
    ``__init__.py`` is the package). ``import a.b`` and ``from a.b import c`` give an edge to the
    module they name: ``a.b.c`` when that is a module, else ``a.b``. Imports inside functions
    count (a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` do not
    (they never run). Importing a submodule is not counted as importing its package.

Module size
    At most :data:`MAX_LINES` lines per module.

Private names
    A private name starts with one underscore (dunders are not private). A module reads
    another module's private name when it

    1. imports it: ``from other import _name`` (``other`` a tsgate module other than itself);
    2. reads it from an imported module: ``other._name`` where ``other`` is bound by an import
       of a module (tsgate's or a third party's, e.g. ``torch._C``);
    3. reads ``obj._name`` (or ``getattr(obj, "_name")``) on anything but ``self``, ``cls`` or
       ``super()``, when no code of this module defines ``_name`` (as a function, method or
       class, a class-level assignment, or an attribute assignment ``x._name = ...``).
       ``self._x`` inside its own class is fine, and so is one class of a module using a
       private attribute that module defines. :data:`FOREIGN_ALLOWED` lists third-party
       private attributes that have no public equivalent.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"tsgate": ROOT / "tsgate", "tsgate.cli": ROOT / "cli"}
MAX_LINES = 500
#: third-party private attributes read on purpose, each with the reason
FOREIGN_ALLOWED = {
    "_version": "torch.Tensor._version, the in-place version counter: the only way to tell that a "
                "parameter changed (inference caches of the gated cells)",
}


def _modules() -> dict[str, Path]:
    out = {}
    for prefix, base in SOURCES.items():
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([prefix, *parts])] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, level: int, name: str | None) -> str:
    """Absolute name of a (possibly relative) import in ``module``."""
    if not level:
        return name or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def _imports(name: str) -> Iterator[tuple[ast.AST, str, list[str]]]:
    """(node, imported module, imported names) of every runtime import of a module."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name, []
        elif isinstance(node, ast.ImportFrom):
            yield node, _resolve(name, node.level, node.module), [a.name for a in node.names]


def _edges(name: str) -> set[str]:
    out = set()
    for _, target, names in _imports(name):
        subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
        if subs:
            out.update(subs)
            if len(subs) < len(names) and target in MODULES:
                out.add(target)
        elif target in MODULES:
            out.add(target)
        else:  # import a.b.c: the longest prefix that is a module of ours
            parts = target.split(".")
            for k in range(len(parts), 0, -1):
                if ".".join(parts[:k]) in MODULES:
                    out.add(".".join(parts[:k]))
                    break
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle():
    graph = {m: _edges(m) for m in MODULES}
    assert sum(len(e) for e in graph.values()) > 100  # the graph was really built
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" ⇄ ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _size_params() -> list:
    return [pytest.param(path, id=path.relative_to(ROOT).as_posix()) for path in MODULES.values()]


@pytest.mark.parametrize("path", _size_params())
def test_no_module_is_over_500_lines(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines; split it along its jobs"


def _private(attr: str) -> bool:
    return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))


def _defined(tree: ast.AST) -> set[str]:
    """Private names this module defines: functions, classes, class-level names, assigned attributes."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
                out.update(t.id for t in targets if isinstance(t, ast.Name))
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and len(node.args) > 1:
            if isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                out.add(node.args[1].value)
    return {n for n in out if _private(n)}


def _module_aliases(name: str, tree: ast.AST) -> set[str]:
    """Names bound in the module to imported modules (``import x as y``, ``from pkg import mod``)."""
    out = set()
    for node, target, names in _imports(name):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.add(a.asname or a.name.split(".")[0])
        else:
            for a in node.names:
                full = f"{target}.{a.name}"
                if full in MODULES or a.name in ("np", "pd"):
                    out.add(a.asname or a.name)
    return out


def _self_like(node: ast.AST) -> bool:
    if isinstance(node, ast.Name) and node.id in ("self", "cls"):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def private_reads(name: str) -> list[str]:
    """Every read of another module's private name in module ``name`` (see the module docstring)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    defined = _defined(tree)
    aliases = _module_aliases(name, tree)
    found = []
    for node, target, names in _imports(name):
        if target.startswith("tsgate") and target != name:
            found += [f"line {node.lineno}: from {target} import {n}" for n in names if _private(n)]
    for node in ast.walk(tree):
        attr = obj = None
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            attr, obj = node.attr, node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                attr, obj = node.args[1].value, node.args[0]
        if attr is None or not _private(attr) or _self_like(obj):
            continue
        if isinstance(obj, ast.Name) and obj.id in aliases:
            found.append(f"line {node.lineno}: {ast.unparse(obj)}.{attr} (a private name of module {obj.id})")
        elif attr not in defined and attr not in FOREIGN_ALLOWED:
            found.append(f"line {node.lineno}: {ast.unparse(obj)}.{attr}")
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_reads_another_modules_private_names(name):
    found = private_reads(name)
    assert not found, f"{MODULES[name].relative_to(ROOT)} reads private names of other modules: " + "; ".join(found)


def test_the_private_name_rule_catches_what_it_should(tmp_path, monkeypatch):
    """The three kinds of reads are found; a class's own private attributes are not."""
    src = tmp_path / "probe.py"
    src.write_text(
        "import torch\n"
        "from tsgate.data.series import _secret\n"
        "class A:\n"
        "    def __init__(self):\n"
        "        self._mine = 1\n"
        "    def f(self, other, learner):\n"
        "        return self._mine + other._mine + learner._Z + torch._C + getattr(learner, '_W')\n",
        encoding="utf-8",
    )
    monkeypatch.setitem(MODULES, "tsgate.probe", src)
    found = " ".join(private_reads("tsgate.probe"))
    assert "_secret" in found and "learner._Z" in found and "torch._C" in found and "_W" in found
    assert "self._mine" not in found and "other._mine" not in found
