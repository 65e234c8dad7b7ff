"""The tree's layering, read from the imports: pipelines/ chooses and wires; the stages under assets/
stand on assets/shared (which stands on no stage) and on models/; models/ knows neither Dagster nor
the stages; no stage package imports another's private names; the packages form no cycle."""

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("assets", "models", "pipelines")


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("assets", "models") and len(parts) > 1 else parts[0]


def _imports() -> list[tuple[str, str, list[str]]]:
    """(importing module, imported module, names) for every absolute `from` import and `import`."""
    out = []
    for folder in OURS:
        for path in (ROOT / folder).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    out.append((module, node.module, [a.name for a in node.names]))
                elif isinstance(node, ast.Import):
                    out.extend((module, a.name, []) for a in node.names)
    return out


def test_assets_and_models_never_import_pipelines_and_models_never_import_dagster_or_assets():
    wrong = [(m, d) for m, d, _ in _imports() if m.startswith(("assets", "models")) and d.startswith("pipelines")]
    wrong += [(m, d) for m, d, _ in _imports()
              if m.startswith("models") and (d.split(".")[0] in ("assets", "dagster"))]
    assert not wrong


def test_shared_stands_on_no_stage_and_no_stage_borrows_private_names():
    shared = [(m, d) for m, d, _ in _imports() if m.startswith("assets.shared") and d.startswith("assets.")
              and not d.startswith("assets.shared")]
    private = [(m, d, n) for m, d, names in _imports() for n in names
               if n.startswith("_") and d.split(".")[0] in OURS and _package(d) != _package(m)]
    assert not shared and not private


def test_the_packages_form_no_cycle():
    edges = defaultdict(set)
    for m, d, _ in _imports():
        if d.split(".")[0] in OURS and _package(d) != _package(m):
            edges[_package(m)].add(_package(d))

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in edges[start])

    cycles = sorted((a, b) for a in list(edges) for b in edges[a] if reaches(b, a, set()))
    assert not cycles


@pytest.mark.parametrize("module", ["pipelines.definitions", "assets.report.suite"])
def test_loading_the_code_location_imports_no_deep_learning_framework(module):
    """Every run, step, sensor tick and `dagster` command loads the definitions: torch, open_clip and
    transformers are imported only by the steps that use them (loading torch alone took 13 s of 26 s).
    The report reads its suite before it knows whether its inputs changed: a kept report loads no torch."""
    probe = (f"import sys, {module}; "
             "print(sorted(m for m in ('torch', 'open_clip', 'transformers', 'vllm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
