"""The codebase's shape, checked: the registries agree, resume rules, no import cycle, small modules and
functions, and a README that documents every command and module."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tsrnn.config import ModelConfig, TrainConfig
from tsrnn.kinds import KINDS, kind_of

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def test_the_kind_registry_agrees_with_the_scoring_names() -> None:
    from tsrnn.scoring import ERROR_KINDS

    assert KINDS["stateful"].error_kinds == ERROR_KINDS
    assert all(set(k.error_kinds) <= set(ERROR_KINDS) for k in KINDS.values())
    assert (
        kind_of("autoencoder", "windowed") is KINDS["autoencoder"]
        and kind_of("forecaster", "windowed") is KINDS["windowed"]
    )


@pytest.mark.parametrize(("cell", "states"), [("lstm", ["h", "c"]), ("gru", ["h"]), ("rnn", ["h"])])
def test_the_stateful_graph_carries_the_cells_state(cell: str, states: list[str]) -> None:
    cfg = ModelConfig(cell=cell, inputs="diff", time_features="day")
    inputs, outputs, axes = cfg.spec.graph(cfg)
    assert inputs == ["x", "tf", *states, "next", "prev"]
    assert outputs[:3] == ["expected", "error", "forecast"] and outputs[3:] == [
        f"{n}_out" for n in [*states, "next", "prev"]
    ]
    assert all(name in axes for name in inputs + outputs)
    assert ModelConfig(kind="autoencoder").spec.warmup_rows(32) == 31 and cfg.spec.warmup_rows(32) == 32


def test_resume_keeps_the_runs_settings_but_the_epoch_limit() -> None:
    from tsrnn.training.train import resume_config

    run: Any = SimpleNamespace(
        train_config=TrainConfig(lr=0.01, epochs=10, patience=4)
    )  # what resume_config reads of a Run
    python = resume_config(run, TrainConfig(epochs=100, lr=1.0))
    assert (python.lr, python.epochs, python.patience) == (0.01, 100, 4)  # it replaced every setting before
    cli = resume_config(run, TrainConfig(epochs=100, lr=1.0), {"epochs": "flag", "lr": "flag"})
    assert (cli.lr, cli.epochs, cli.patience) == (0.01, 100, 4)
    assert resume_config(run, None) == run.train_config


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("tsrnn")
            and node.col_offset == 0
        ):
            found.add(node.module)
    return found


def test_no_module_level_import_cycle() -> None:
    """config imported data/clean for parse_interval while clean imported config."""
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (ROOT / "tsrnn").rglob("*.py")
    }
    graph = {m: {i for i in _imports(p) if i in modules} for m, p in modules.items()}
    seen: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        if seen.get(m) == 1:
            raise AssertionError(" → ".join([*trail, m]))
        if seen.get(m) == 2:
            return
        seen[m] = 1
        for n in graph[m]:
            visit(n, [*trail, m])
        seen[m] = 2

    for m in graph:
        visit(m, [])


def test_modules_and_functions_stay_small() -> None:
    long = []
    for path in sorted((ROOT / "tsrnn").rglob("*.py")) + sorted((ROOT / "cli").glob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.end_lineno - node.lineno >= MAX_FUNCTION_LINES
            ):
                long.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
                )
    assert not long, long


def test_the_readme_documents_every_command_and_module() -> None:
    from tsrnn_cli.main import COMMANDS

    readme = (ROOT / "README.md").read_text()
    assert all(f"`tsrnn {c}" in readme for c in COMMANDS), [c for c in COMMANDS if f"`tsrnn {c}" not in readme]
    layout = readme[readme.index("## How it works") :]
    layout = layout[: layout.index("\n## ")]
    modules = {str(p.relative_to(ROOT)) for p in sorted((ROOT / "tsrnn").rglob("*.py"))}
    modules -= {
        str(p.relative_to(ROOT)) for p in (ROOT / "tsrnn").rglob("__init__.py") if p.read_text().count("\n") < 3
    }  # empty packages
    named = set(re.findall(r"`((?:tsrnn|cli)/[\w/]+\.py)`", layout))
    assert not modules - named, f"modules not in the README's How it works table: {sorted(modules - named)}"
    assert all((ROOT / m).is_file() for m in named), (
        f"the table names modules that do not exist: {[m for m in named if not (ROOT / m).is_file()]}"
    )


def test_choice_lists_are_defined_once() -> None:
    """THRESHOLD_METHODS and thresholds.METHODS, ERROR_KINDS and a tuple in config.py, two lists of time
    features: one source each."""
    from tsrnn.scoring import THRESHOLD_METHODS
    from tsrnn.scoring.thresholds import METHODS

    assert tuple(METHODS) == THRESHOLD_METHODS
    source = "\n".join(p.read_text() for p in (ROOT / "tsrnn").rglob("*.py"))
    for literal in (
        '"none", "day", "week", "day+week"',
        '"fixed", "quantile", "pot", "dynamic"',
        '"abs", "squared", "horizon"',
        '"forecaster", "autoencoder"',
        '"stateful", "windowed"',
    ):
        assert source.count(literal) == 1, literal
