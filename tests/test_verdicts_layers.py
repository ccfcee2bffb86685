"""verdicts is the lowest layer: it imports nothing from pipeline or judges, its modules form no
import cycle, and every rule id it can store is a named constant of ``verdicts.rule_ids``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from verdicts import rule_ids
from verdicts.variants import PATTERN_RULES

VERDICTS = Path(__file__).resolve().parent.parent / "verdicts"


def _verdicts_imports() -> dict[str, set[str]]:
    """Module -> the verdicts modules it imports (type-only imports included)."""
    graph: dict[str, set[str]] = {}
    for path in VERDICTS.glob("*.py"):
        if path.name == "__init__.py":
            continue
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "verdicts":
                    imported |= {f"verdicts.{alias.name}" for alias in node.names}
                elif node.module.startswith("verdicts."):
                    imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.startswith("verdicts.")}
        graph[f"verdicts.{path.stem}"] = imported
    return graph


def test_importing_verdicts_loads_nothing_from_pipeline_or_judges() -> None:
    code = (
        "import sys, verdicts\n"
        "verdicts.judge_words('The tale ends.', verdicts.Hypothesis('p', 'the tail ends'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pipeline', 'judges')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_verdicts_modules_form_no_cycle() -> None:
    graph = _verdicts_imports()
    assert "verdicts.summary" not in graph["verdicts.names"]

    def visit(module: str, path: tuple[str, ...]) -> None:
        for nxt in graph.get(module, ()):
            assert nxt not in path, " -> ".join((*path, nxt))
            visit(nxt, (*path, nxt))

    for module in graph:
        visit(module, (module,))


def test_every_variant_pattern_has_a_rule_id() -> None:
    names = {name for name, _ in PATTERN_RULES} | {"list", "ll_l"}
    assert names == set(rule_ids.SPELLING_VARIANT_BY_PATTERN)


def test_rule_ids_are_unique_constants_named_after_their_id() -> None:
    constants = {name: value for name, value in vars(rule_ids).items() if name.isupper() and isinstance(value, str)}
    assert len(set(constants.values())) == len(constants) == len(rule_ids.RULE_IDS)
    for name, value in constants.items():
        assert name == value.replace(".", "_").upper(), name
