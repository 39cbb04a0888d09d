"""The layers of docs/architecture.md hold: `lint-imports` checks the contracts in .importlinter
(core below audit below outbox below the domain apps below realtime below ops; dgt on top; realtime
imports only core, accounts and outbox; no import cycle between the modules of an app)."""
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # runs lint-imports
def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


APPS = ("core", "audit", "outbox", "accounts", "notifications", "listings", "wallet", "banners", "analytics",
        "realtime", "ops", "dgt")
# The one cycle allowed, as in .importlinter's no-cycles-inside-apps contract (the notifications app
# is reworked on another branch).
ALLOWED = {("notifications.services", "notifications.tasks")}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_inside_an_app_between_a_package_and_its_modules_either():
    # acyclic_siblings compares siblings only: a package's __init__ importing its own submodule that
    # imports the package back (wallet.gateways did) is no cycle to it. grimp (import-linter's graph)
    # counts imports inside functions too, so hiding one there does not help.
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph(*APPS, include_external_packages=False, cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    cycles = {}
    for app in APPS:
        modules = {m for m in graph.modules if m == app or m.startswith(app + ".")}
        edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules and (m, i) not in ALLOWED}
                 for m in modules}
        if found := _cycles(edges):
            cycles[app] = found
    assert cycles == {}
