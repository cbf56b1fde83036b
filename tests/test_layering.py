"""The house stays standing: the layering read from the code's own imports.

Every ``import`` in engine/ (module level and inside functions alike) and the Python-level
imports of native/*.pyx/.pxi form a graph of engine modules; these tests hold it to the
design: no import cycles, Telethon only behind engine/telegram/ (and the test server,
engine/fakedc/), nothing imports the CLI but ``engine.__main__``, the ground floors import
nothing above them, and each compiled module imports on its own.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GROUND = ("engine.model", "engine.transport", "engine._native", "engine.archive")
# The house, bottom up (docs/architecture.md): a package imports only packages on its own
# floor or lower (the native cores and the transport share the ground: each uses the other).
# fakedc stands aside: the test server, which the code never imports.
FLOORS = {
    "engine": 0, "engine.model": 0, "engine.config": 2, "engine.logs": 2, "engine.procs": 2,
    "engine.transport": 1, "engine._native": 1, "engine.archive": 1,
    "engine.text": 3, "engine.telegram": 3, "engine.aggregator": 3,
    "engine.render": 4, "engine.media": 4, "engine.worker": 5, "engine.supervisor": 6,
    "engine.commands": 7, "engine.cluster": 7, "engine.cli": 8, "engine.__main__": 9,
}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in (ROOT / "engine").rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    for p in [*(ROOT / "native").glob("*.pyx"), *(ROOT / "native").glob("*.pxi")]:
        mods[f"engine._native.{p.stem}"] = p
    return mods


def _source(p: Path) -> str:
    text = p.read_text()
    if p.suffix in (".pyx", ".pxi"):         # Cython: keep the Python-level imports only
        text = "\n".join(x for x in text.splitlines()
                         if x.startswith(("import ", "from ")) and " cimport " not in x)
    return text


def _imports(mod: str, path: Path, mods: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(engine modules, top-level names of everything else) that ``mod`` imports."""
    inside, outside = set(), set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(_source(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        for name in names:
            if not name.startswith("engine"):
                outside.add(name.split(".")[0])
                continue
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                # a package's own __init__ is not a dependency of its modules
                if target in mods and target != mod and not mod.startswith(target + "."):
                    inside.add(target)
    return inside, outside


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = _modules()
    inside, outside = {}, {}
    for mod, path in mods.items():
        inside[mod], outside[mod] = _imports(mod, path, mods)
    return inside, outside


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read(graph):
    inside, outside = graph
    assert "engine.archive.layout" in inside["engine.archive.manifest"]
    assert "engine.transport.errors" in inside["engine._native.ring"]
    assert "telethon" in outside["engine.telegram.source"]


def test_no_import_cycles(graph):
    assert _cycles(graph[0]) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_telethon_stays_behind_the_telegram_layer(graph):
    _, outside = graph
    users = sorted(m for m, names in outside.items() if "telethon" in names
                   and not m.startswith(("engine.telegram", "engine.fakedc")))
    assert users == []


def test_a_cluster_runtime_stays_inside_the_cluster_package(graph):
    """Issue 16: Ray (the optional ``tgarc[ray]`` extra) only under engine/cluster/, and the
    single-machine path imports nothing from it: one door, ``engine.commands.cluster`` (which
    cli.py imports only for ``export --cluster``). tests/test_cluster_cli.py checks at run
    time that an export does not load Ray."""
    inside, outside = graph
    assert sorted(m for m, names in outside.items() if "ray" in names
                  and not m.startswith("engine.cluster")) == []
    assert sorted(m for m, deps in inside.items() if not m.startswith("engine.cluster")
                  and any(d.startswith("engine.cluster") for d in deps)) \
        == ["engine.commands.cluster"]


def test_only_main_imports_the_cli(graph):
    inside, _ = graph
    assert sorted(m for m, deps in inside.items() if "engine.cli" in deps) == ["engine.__main__"]


def test_the_ground_floors_import_nothing_above_them(graph):
    inside, _ = graph

    def ground(m: str) -> bool:
        return m == "engine" or any(m == g or m.startswith(g + ".") for g in GROUND)

    upward = {m: sorted(d for d in deps if not ground(d))
              for m, deps in inside.items() if ground(m) and m != "engine"}
    assert {m: d for m, d in upward.items() if d} == {}


def _package(mod: str) -> str:
    return ".".join(mod.split(".")[:2])


def test_every_package_has_a_floor(graph):
    inside, _ = graph
    assert sorted({_package(m) for m in inside} - set(FLOORS) - {"engine.fakedc"}) == []


def test_imports_only_go_down(graph):
    """No arrow goes up a floor: the output wing never
    reaches up into the worker or the supervisor, the supervisor never into the commands."""
    inside, _ = graph
    upward = sorted(f"{m} -> {d}" for m, deps in inside.items() for d in deps
                    if _package(m) != _package(d) and _package(m) != "engine.fakedc"
                    and FLOORS.get(_package(d), 99) > FLOORS[_package(m)])
    assert upward == []


def test_nothing_but_the_test_server_imports_it(graph):
    """engine/fakedc is the test side: the code reaches the test DC only through what it is
    handed (TGARC_DC, TGARC_DC_KEY), never by importing the server or its key."""
    inside, _ = graph
    users = sorted(f"{m} -> {d}" for m, deps in inside.items() for d in deps
                   if _package(d) == "engine.fakedc" and _package(m) != "engine.fakedc")
    assert users == []


def test_an_upward_arrow_is_caught():
    assert FLOORS["engine.render"] > FLOORS["engine.archive"] > FLOORS["engine.model"]
    assert FLOORS["engine.supervisor"] > FLOORS["engine.worker"] > FLOORS["engine.render"]


@pytest.mark.parametrize("name", ["ring", "text", "render"])
def test_each_native_module_imports_on_its_own(name):
    """A compiled module never imports a package whose __init__ chooses a compiled module
    (it would be asked for while half loaded)."""
    r = subprocess.run([sys.executable, "-c", f"import engine._native.{name}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    if r.returncode and "No module named 'engine._native." in r.stderr \
            and os.environ.get("TGARC_REQUIRE_NATIVE") != "1":
        pytest.skip(f"the native {name} is not built here")
    assert r.returncode == 0, r.stderr[-2000:]
