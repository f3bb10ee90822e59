"""The package layout shows the architecture: no import cycles, a small top level, a light CLI."""

import ast
import subprocess
import sys
from pathlib import Path

import scenebench

ROOT = Path(scenebench.__file__).parent
CONTRACTS = {"__init__", "atomic", "config", "errors", "generator", "registry"}
SUBPACKAGES = {"cli", "datasets", "evaluation"}


def _modules() -> dict:
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = ["scenebench", *p.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(mods: dict) -> dict:
    """Module -> scenebench modules it imports anywhere in its body (lazy imports inside functions too)."""
    graph = {}
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        # a package's own __init__ runs before any of its modules: not an edge of a cycle
        graph[name] = {d for d in deps if d in mods and d != name and not name.startswith(d + ".")}
    return graph


def test_no_import_cycles():
    graph = _imports(_modules())
    cycles, state = [], {}

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(" -> ".join(stack[stack.index(v):] + [v]))
            elif not state.get(v):
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for u in sorted(graph):
        if not state.get(u):
            visit(u, [])
    assert not cycles, cycles


def test_top_level_holds_only_the_contracts():
    top = {p.stem for p in ROOT.glob("*.py")}
    dirs = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert top == CONTRACTS and dirs == SUBPACKAGES


def test_datasets_and_evaluation_never_import_the_cli():
    graph = _imports(_modules())
    bad = [(m, d) for m, deps in graph.items() if not m.startswith("scenebench.cli") for d in deps
           if d.startswith("scenebench.cli")]
    assert not bad


def test_help_imports_no_heavy_module():
    code = ("import sys; from scenebench.cli import main\n"
            "heavy = [m for m in ('torch', 'h5py', 'scipy', 'pyrender', 'dask') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_the_catalog_matches_the_generators():
    """`scenebench list` reads generators/catalog.json; rewrite it with `python -m scenebench.registry`."""
    import json
    from importlib import resources

    from scenebench import registry

    stored = json.loads(resources.files("scenebench.generators").joinpath(registry.CATALOG).read_text())
    assert stored == registry.built_in_catalog(), "run: python -m scenebench.registry"


def test_list_imports_no_drawing_code():
    code = ("import sys; from click.testing import CliRunner; from scenebench.cli import main\n"
            "r = CliRunner().invoke(main, ['list']); assert r.exit_code == 0 and 'multi_dsprites  v' in r.output\n"
            "print(','.join(m for m in ('numpy', 'h5py', 'scenebench.generators.multi_dsprites') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
