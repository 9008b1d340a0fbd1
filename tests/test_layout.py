"""The package's layering: nothing imports upwards, no import circle, ``sample.py`` without Lightning.

Layers, lowest first (docs/development.md draws the same map):
0 ``errors``, ``noise``, ``io`` (files, images, checkpoints); 1 ``ops``;
2 ``models`` and the GAN's maths (``gan.losses``, ``gan.augment``, ``gan.ema``, ``gan.step``: no
Lightning, shared with the throughput benchmark's bare loop); 3 ``data``, ``metrics``; 4 ``gan``
(its LightningModule), ``sampling``, ``lightning_internals``; 5 ``training``, ``translation``;
6 ``report``, ``study`` (running studies) and the ``igan`` commands (``commands``, ``__main__``).
A dotted key places a submodule apart from its package (``gan.step`` below ``gan``).
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGE = REPO / "igan"

LAYERS = {
    "__init__": 0, "errors": 0, "noise": 0, "io": 0,
    "ops": 1,
    "models": 2, "gan.losses": 2, "gan.augment": 2, "gan.ema": 2, "gan.step": 2,
    "data": 3, "metrics": 3,
    "gan": 4, "sampling": 4, "lightning_internals": 4,
    "training": 5, "translation": 5,
    "report": 6, "study": 6, "commands": 6, "__main__": 6,
    "font": 6,
    "app": 6,
}


def module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def igan_imports(path) -> set[str]:
    """Every ``igan.*`` module a file imports, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("igan."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("igan"):
            for alias in node.names:  # `from igan.x import y` may name the submodule igan.x.y
                sub = f"{node.module}.{alias.name}"
                found.add(sub if (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else node.module)
    return found


def layer_of(module: str) -> int:
    """The layer of the longest key of LAYERS that names ``module`` or a package above it."""
    parts = module.split(".")[1:] or ["__init__"]
    for depth in range(len(parts), 0, -1):
        key = ".".join(parts[:depth])
        if key in LAYERS:
            return LAYERS[key]
    raise AssertionError(f"{module}: place this module in tests/test_layout.py's LAYERS and docs/development.md")


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in igan_imports(path) if m in MODULES or m == "igan"} for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module):
    upward = [m for m in GRAPH[module] if layer_of(m) > layer_of(module)]
    assert not upward, f"{module} (layer {layer_of(module)}) imports {upward} from a higher layer"


def test_no_import_circle():
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_layout_check_sees_an_upward_import(tmp_path):
    """The checker itself: a model importing the CLI is reported, and so is the GAN's maths
    importing its LightningModule."""
    fake = tmp_path / "bad.py"
    fake.write_text("from igan.training.cli import main\nimport igan.report.compare\n")
    assert igan_imports(fake) == {"igan.training.cli", "igan.report.compare"}
    assert layer_of("igan.training.cli") > layer_of("igan.models.dcgan")
    assert layer_of("igan.gan") == layer_of("igan.gan.module") > layer_of("igan.gan.step") == layer_of("igan.models")


def test_sampling_loads_no_lightning():
    """sample.py is a small inference script: importing it must not pull in Lightning."""
    code = ("import sys, runpy; sys.argv = ['sample.py', '--help']\n"
            "try:\n    runpy.run_path('sample.py', run_name='not_main')\nexcept SystemExit:\n    pass\n"
            "import igan.sampling\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"Lightning modules imported by sample.py: {out.stdout.strip()}"


def test_the_top_of_the_package_stays_small():
    """At most 8 modules beside the packages: anything else belongs in a package with a job."""
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 8, modules
