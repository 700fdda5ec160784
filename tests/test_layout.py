"""The floor plan, enforced: one dependency direction, no cycles, no family-to-family or test-to-test imports.

Every import of a project module counts, function-local ones included. The rules (docs/architecture.md):
- the zoo (``lightning_modules.zoo``) imports nothing else of the project; ``bench.reference`` (data with
  citations) only ``contracts`` (the record's field names);
- ``contracts`` (the shared vocabulary and schemas) imports nothing else of the project;
- ``bench.job`` imports only itself and ``contracts``;
- one direction between the top folders: ``bench`` may import ``lightning_modules``, never the other way round;
  the Lightning side (the rest of ``lightning_modules``) imports the zoo and ``contracts`` only;
- a task package (``bench.benchmark``, ``bench.training``, ``bench.report``) imports the zoo, the Lightning
  side, ``bench.job`` and ``bench.reference``, never another task package;
- nothing in the runtime imports ``run`` (the entry point) or ``tools``; no model family imports another;
- Hydra's global job state (``HydraConfig``) is read in one place, the entry point's spec builder
  (``run.job_spec``); the rest gets the job's ``contracts.job.JobSpec``. The DDP relaunch writes the job's
  dir into it for Lightning's launcher, which reads it (``bench.training.relaunch.prepare_ddp_relaunch``), and a
  stopping launcher names the dir of a job it never started as Hydra would (``bench.job.sweep._job_dir``);
- no test module imports another test module.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import REPO

PACKAGES = ("contracts", "bench", "lightning_modules", "tools", "tests")
TASK_PACKAGES = ("bench.benchmark", "bench.training", "bench.report")
VOCABULARY = ("contracts",)
ZOO = "lightning_modules.zoo"
RUNTIME = ("run", "contracts", "bench", "lightning_modules")
# the functions allowed to touch Hydra's global job state, by module
# each allowed module's one function: the spec builder; the DDP relaunch, which writes the job's dir for Lightning's
# launcher; the stopping launcher's dir of a job it never started (Hydra's subdir interpolates hydra.job.*)
HYDRA_CONFIG_USERS = {"run": "job_spec", "bench.training.relaunch": "prepare_ddp_relaunch", "bench.job.sweep": "_job_dir"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts and parts[0] == "tests":  # tests import each other by bare name (pytest's rootdir-relative path)
        parts = parts[1:] or ["tests"]
    return ".".join(parts)


def source_files(root: Path) -> Iterator[Path]:
    yield from (root / "run.py",) if (root / "run.py").exists() else ()
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py")) if (root / package).is_dir() else ()


def imports_of(root: Path, path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (resolved to the longest known module name)."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = list(source_files(root))
    known = {module_name(root, f) for f in files}
    return {module_name(root, f): imports_of(root, f, known) for f in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), plus self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import path in an acyclic graph (for the architecture notes)."""
    best: dict[str, list[str]] = {}

    def chain(node: str) -> list[str]:
        if node not in best:
            tails = [chain(n) for n in graph.get(node, ())]
            best[node] = [node, *max(tails, key=len, default=[])]
        return best[node]

    return max((chain(n) for n in graph), key=len, default=[])


def within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def family_modules(root: Path) -> set[str]:
    """Zoo modules that register models (the families); shared modules register none."""
    zoo = root / "lightning_modules" / "zoo"
    return {
        module_name(root, f) for f in zoo.glob("*.py")
        if f.name != "__init__.py" and "register_model" in f.read_text() and "def register_model" not in f.read_text()
    }


def hydra_config_uses(tree: ast.AST) -> Iterator[tuple[int, str | None]]:
    """(line, enclosing top-level function or None) of each import or mention of Hydra's ``HydraConfig``."""
    def walk(node: ast.AST, function: str | None) -> Iterator[tuple[int, str | None]]:
        for child in ast.iter_child_nodes(node):
            inner = child.name if function is None and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.ImportFrom) and (child.module == "hydra.core.hydra_config" or any(
                    a.name == "HydraConfig" for a in child.names)):
                yield child.lineno, "<import>"
            elif isinstance(child, ast.Import) and any(a.name.startswith("hydra.core.hydra_config") for a in child.names):
                yield child.lineno, "<import>"
            elif (isinstance(child, ast.Name) and child.id == "HydraConfig") or (
                    isinstance(child, ast.Attribute) and child.attr in ("HydraConfig", "hydra_config")):
                yield child.lineno, function
            yield from walk(child, inner)

    yield from walk(tree, None)


def hydra_config_violations(root: Path) -> list[str]:
    """Runtime modules that touch ``HydraConfig`` outside the one function each of ``HYDRA_CONFIG_USERS`` allows."""
    found = []
    for path in source_files(root):
        module = module_name(root, path)
        if not within(module, *RUNTIME):
            continue
        allowed = HYDRA_CONFIG_USERS.get(module)
        for line, where in hydra_config_uses(ast.parse(path.read_text(), str(path))):
            if allowed is None or where not in (allowed, "<import>"):
                found.append(f"HydraConfig is read only by run.job_spec (the job spec's builder): {module}:{line}")
    return found


def violations(root: Path) -> list[str]:
    graph = import_graph(root)
    families = family_modules(root)
    found = [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    for module, targets in sorted(graph.items()):
        is_test = not within(module, "contracts", "bench", "lightning_modules", "tools", "run")
        for target in sorted(targets):
            edge = f"{module} imports {target}"
            if is_test:
                if target.startswith("test_") or target.split(".")[-1].startswith("test_"):
                    found.append(f"test-to-test import: {edge}")
                continue
            if within(module, ZOO) and not within(target, ZOO):
                found.append(f"the zoo imports nothing else of the project: {edge}")
            elif module in families and target in families:
                found.append(f"model family imports another family: {edge}")
            elif within(module, "bench.reference", *VOCABULARY) and not within(target, *VOCABULARY):
                found.append(f"a leaf module imports the project: {edge}")
            elif within(module, "bench.job") and not within(target, "bench.job", *VOCABULARY):
                found.append(f"bench.job imports only itself and the vocabulary: {edge}")
            elif within(module, "lightning_modules") and within(target, "bench"):
                found.append(f"lightning_modules never imports bench (one direction between the top folders): {edge}")
            elif within(module, "lightning_modules") and not within(module, ZOO) and not within(
                    target, "lightning_modules", *VOCABULARY):
                found.append(f"the Lightning side imports the zoo and the vocabulary only: {edge}")
            elif within(module, *TASK_PACKAGES) and any(
                    within(target, t) and not within(module, t) for t in TASK_PACKAGES):
                found.append(f"a task imports another task: {edge}")
            elif not within(module, "run", "tools") and within(target, "run", "tools"):
                found.append(f"the runtime imports the entry point or a tool: {edge}")
    return found + hydra_config_violations(root)


def test_the_project_keeps_its_floor_plan() -> None:
    assert violations(REPO) == []


def test_no_module_is_over_400_lines() -> None:
    long = [f"{f.relative_to(REPO)}: {n}" for f in source_files(REPO)
            if not f.name.startswith("test_") and (n := len(f.read_text().splitlines())) > 400]
    assert long == []


@pytest.mark.parametrize(("path", "line", "rule"), [
    ("lightning_modules/zoo/inception_v4.py", "from .inception_v3 import InceptionA\n", "family imports another family"),
    ("lightning_modules/zoo/layers.py", "from contracts.errors import ConfigError\n", "the zoo imports nothing"),
    ("bench/job/record.py", "from bench.report.task import run_report\n", "bench.job imports only itself"),
    ("bench/report/task.py", "from bench.benchmark.timing import summarize\n", "a task imports another task"),
    ("tests/test_a.py", "from test_b import helper\n", "test-to-test import"),
    ("lightning_modules/data.py", "from bench.job.record import JobContext\n", "lightning_modules never imports bench"),
    ("contracts/errors.py", "from bench.job.record import JobContext\n", "a leaf module imports the project"),
    ("contracts/status.py", "def f():\n    from contracts.errors import ConfigError\n", "import cycle"),
    ("bench/job/record.py", "from hydra.core.hydra_config import HydraConfig\n", "HydraConfig is read only by"),
    ("bench/job/lifecycle.py", "def f(hydra):\n    return hydra.core.hydra_config.HydraConfig.get()\n",
     "HydraConfig is read only by"),
    ("run.py", "def output_dir():\n    return HydraConfig.get().runtime.output_dir\n", "HydraConfig is read only by"),
])
def test_the_checker_catches_each_kind_of_violation(tmp_path: Path, path: str, line: str, rule: str) -> None:
    """A planted violation in a copy of the tree is found: the layout test can fail."""
    for f in source_files(REPO):
        copy = tmp_path / f.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(f.read_text())
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / "tests" / name).touch()
    target = tmp_path / path
    target.write_text(target.read_text() + "\n" + line)
    assert any(rule in v for v in violations(tmp_path)), violations(tmp_path)
