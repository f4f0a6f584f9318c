"""Layering (docs/ARCHITECTURE.md): the tracking core imports neither the inference backends nor the
trainer, not even inside a function; langtrack_ros.builder is where they meet."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "langtrack_ros"
FORBIDDEN = ("langtrack_ros.inference", "langtrack_ros.training")


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module an ``import``/``from ... import`` anywhere in the file names (relative ones
    resolved against the file's package below ``root``)."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def back_arrows(folder: Path, root: Path = PACKAGE.parent) -> list[str]:
    return sorted(f"{path.relative_to(root)} imports {name}"
                  for path in folder.rglob("*.py") for name in imported_modules(path, root)
                  if any(name == f or name.startswith(f + ".") for f in FORBIDDEN))


def test_tracking_imports_neither_inference_nor_training():
    assert back_arrows(PACKAGE / "tracking") == []


def test_inference_reads_model_files_without_the_trainer():
    """Model files live in langtrack_ros/model_files.py, which training/ and inference/ share."""
    arrows = back_arrows(PACKAGE / "inference")
    assert [a for a in arrows if "langtrack_ros.training" in a] == []


def test_the_check_sees_function_local_and_relative_imports(tmp_path):
    fake = tmp_path / "langtrack_ros" / "tracking"
    fake.mkdir(parents=True)
    (fake / "a.py").write_text("def f():\n    from langtrack_ros.inference.backends import make_backend\n")
    (fake / "b.py").write_text("from ..training import checkpoint\n")
    (fake / "c.py").write_text("import langtrack_ros.tracking.gate\n")
    assert back_arrows(fake, tmp_path) == ["langtrack_ros/tracking/a.py imports langtrack_ros.inference.backends",
                     "langtrack_ros/tracking/a.py imports langtrack_ros.inference.backends.make_backend",
                     "langtrack_ros/tracking/b.py imports langtrack_ros.training",
                     "langtrack_ros/tracking/b.py imports langtrack_ros.training.checkpoint"]


def layer_graph(root: Path = PACKAGE.parent) -> dict[str, set[str]]:
    """Sub-package / top-level module of langtrack_ros -> the others it imports (anywhere in a file)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        layer = rel[0] if len(rel) > 1 else path.stem
        deps = {name.split(".")[1] for name in imported_modules(path, root)
                if name.startswith("langtrack_ros.") and len(name.split(".")) > 1}
        graph.setdefault(layer, set()).update(deps - {layer, "__init__"})
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle between layers, each as a path that returns to its start."""
    found = []

    def walk(node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest member
                walk(nxt, path + [nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_the_layers_import_each_other_without_cycles():
    """docs/ARCHITECTURE.md's layer map is a one-way street (function-local imports included)."""
    assert cycles(layer_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"data": {"evaluation"}, "evaluation": {"data"}, "cli": {"data"}}) == \
        [["data", "evaluation", "data"]]
