"""The package's imports: every module imports on its own, and arrows point one way.

The layers, top to bottom (DESIGN.md, "Package map"): the command (``cli``), the MCP server
(``mcp``), the public surface (``aura_async/__init__``), ``client``, ``fleet``, ``resources``,
``lifecycle``, the request pipeline (``_http``), and the core modules (settings, models,
errors, value types...). A module may import from its own folder and from any layer below it,
never above. The emulator stands alone: it imports nothing of the client, and only the command
imports it (for ``--emulator``).
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import aura_async

PACKAGE = pathlib.Path(aura_async.__file__).parent

# Higher imports lower; equal ranks only within one layer.
RANKS: dict[str, float] = {
    "__main__": 10,  # `python -m aura_async`: the command's entry point
    "cli": 9,
    "mcp": 8,
    "__init__": 7,
    "client": 6,
    "fleet": 5,
    "resources": 4,
    "lifecycle": 3,
    "_http": 2,
    "config": 1.6,
    "backends": 1.5,
    "_serde": 1.4,
    "_validation": 1.3,
    "_durations": 1.25,
    "models": 1.2,
    "events": 1.1,
    "policies": 1.05,
    "errors": 1.0,
    "_version": 1.0,
}
EMULATOR = "emulator"
# Who may import the emulator: the command, for its embedded emulator and `emulator serve`.
EMULATOR_USERS = {"cli", EMULATOR}


def modules() -> list[str]:
    """Every module of the package, dotted."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append(".".join(parts))
    return found


def layer(module: str) -> str:
    """The layer of a dotted module name (its folder, or the core module itself)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imports(module: str) -> list[tuple[int, str]]:
    """(line, dotted target) of every import of the package in ``module``, lazy ones too."""
    path = PACKAGE.parent.joinpath(*module.split("."))
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("aura_async")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "aura_async":
                # `from aura_async import models` names a module; `__version__` the package.
                for alias in node.names:
                    submodule = PACKAGE / alias.name
                    is_module = submodule.is_dir() or submodule.with_suffix(".py").exists()
                    found.append(
                        (node.lineno, f"aura_async.{alias.name}" if is_module else "aura_async")
                    )
            elif node.module.startswith("aura_async."):
                found.append((node.lineno, node.module))
    return found


def upward(module: str) -> list[str]:
    """The imports of ``module`` that break the layering, as ``line: target (why)``."""
    source = layer(module)
    wrong = []
    for line, target in imports(module):
        goal = layer(target)
        if goal == source:
            continue
        if EMULATOR in (source, goal):
            if goal == EMULATOR and source in EMULATOR_USERS:
                continue
            wrong.append(f"{line}: {target} (the emulator stands alone)")
            continue
        if source not in RANKS or goal not in RANKS:
            wrong.append(f"{line}: {target} (a layer this test does not know: add it to RANKS)")
        elif RANKS[goal] >= RANKS[source]:
            wrong.append(f"{line}: {target} ({goal} is not below {source})")
    return wrong


def test_every_import_points_down() -> None:
    broken = {m: upward(m) for m in modules()}
    assert {m: w for m, w in broken.items() if w} == {}


def test_the_layering_rule_catches_an_upward_import() -> None:
    """The control: the rule does see an arrow the wrong way."""
    assert RANKS["_http"] < RANKS["fleet"]
    assert layer("aura_async._http.pipeline") == "_http"
    assert layer("aura_async.errors") == "errors"
    assert "aura_async.errors" in {t for _, t in imports("aura_async._http.pipeline")}


@pytest.mark.timeout(300)
def test_every_module_imports_on_its_own() -> None:
    """Each module imported first, in a fresh package state: a cycle that works only in one
    import order (through ``aura_async/__init__``) fails here."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {[m for m in modules() if not m.endswith('__main__')]!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'aura_async']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=280, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
