"""The README's contract with the code: its asset table names every asset of the Definitions (and no
other), and every `python -m` command it shows is a module that exists, as every module with a
command line is shown."""

import importlib.util
import re
from pathlib import Path

from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_asset_table_lists_every_asset():
    section = README.split("## What the demo produces", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assets = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert listed == assets


def test_every_command_line_module_is_documented_and_exists():
    shown = set(re.findall(r"python -m ([\w.]+)", README))
    assert all(importlib.util.find_spec(module) for module in shown), shown
    with_main = {".".join(p.relative_to(ROOT).with_suffix("").parts)
                 for folder in ("assets", "models", "pipelines") for p in (ROOT / folder).rglob("*.py")
                 if '__name__ == "__main__"' in p.read_text()}
    assert with_main <= shown, with_main - shown
