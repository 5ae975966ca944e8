"""The registry of operations holds every fact about an op, and the package keeps its shape:
imports that form no cycle, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import xlnet
from xlnet.checks import CHECKS
from xlnet.ops import OPS
from xlnet.program import GROUPS, Program, build_program
from xlnet.reference import Inputs, initial_params, train
from xlnet.spec import ACTIVATIONS, Spec
from xlnet.verdicts import close

PACKAGE = Path(xlnet.__file__).parent
MAX_LINES = 420


# --- the import graph ------------------------------------------------------------------------


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Every module of the package -> the package's modules it imports anywhere: at module
    level, under TYPE_CHECKING, inside functions; relative or absolute."""
    paths: dict[str, Path] = {}
    for p in sorted(package.rglob("*.py")):
        parts = list(p.relative_to(package.parent).with_suffix("").parts)
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                # `from . import a1` imports the module a1; `from .ops import OPS` the module ops
                deps.update(f"{module}.{a.name}" if f"{module}.{a.name}" in paths else module
                            for a in node.names)  # fmt: skip
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (a -> b -> ... -> a): the shortest through each module that is on
    one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = {stack.pop()}
            while v not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out: list[list[str]] = []
    for group in groups:
        for start in sorted(group):
            cycle = _shortest_cycle(graph, group, start)
            first = cycle.index(min(cycle[:-1]))  # the same cycle, found from another module
            cycle = [*cycle[first:-1], *cycle[:first], cycle[first]]
            if cycle not in out:
                out.append(cycle)
    return out


def _shortest_cycle(graph: dict[str, set[str]], group: set[str], start: str) -> list[str]:
    """Breadth first from `start`, inside a group of modules that import each other."""
    paths, frontier = {start: [start]}, [start]
    while True:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt


def test_the_graph_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "def f():\n    from . import lazy\n",
        "lazy.py": "import pkg.absolute\n",
        "absolute.py": "from pkg import named\n",
        "named.py": "import typing\nif typing.TYPE_CHECKING:\n    from .hinted import X\n",
        "hinted.py": "from .sub.deep import Y\n",
        "sub/__init__.py": "",
        "sub/deep.py": "def g():\n    from ..lazy import Z\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(pkg)
    assert graph == {"pkg": {"pkg.lazy"}, "pkg.lazy": {"pkg.absolute"},
                     "pkg.absolute": {"pkg.named"}, "pkg.named": {"pkg.hinted"},
                     "pkg.hinted": {"pkg.sub.deep"}, "pkg.sub": set(),
                     "pkg.sub.deep": {"pkg.lazy"}}  # fmt: skip
    cycle = ["pkg.absolute", "pkg.named", "pkg.hinted", "pkg.sub.deep", "pkg.lazy", "pkg.absolute"]
    assert cycles(graph) == [cycle]


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_modules_are_small():
    sizes = {p.relative_to(PACKAGE.parent): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}  # fmt: skip
    big = {str(p): n for p, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


# --- the registry ----------------------------------------------------------------------------

N, F, K, N_TEST = 12, 3, 3, 6
EPOCHS = 3
LR = 0.5  # not 1: at 1 the update without the learning rate would be the right one


def _specs() -> list[Spec]:
    """Programs that use every op between them: both outputs, every activation and
    optimizer, held-out samples."""
    out = [Spec(epochs=EPOCHS, lr=LR), Spec(output="sigmoid", optimizer="momentum",
                                             epochs=EPOCHS, lr=LR)]  # fmt: skip
    for act in ACTIVATIONS:
        out.append(Spec(model="mlp", hidden=(4, 3), activation=act, optimizer="adam",
                        epochs=EPOCHS, lr=LR))  # fmt: skip
    return out


def _run(spec: Spec) -> tuple[Program, dict, Inputs]:
    rng = np.random.default_rng(7)
    label = np.tile(np.arange(1.0, K + 1), N // K)[:, None]
    test_label = np.tile(np.arange(1.0, K + 1), N_TEST // K)[:, None]
    program = build_program(spec, N, F, K, N_TEST)
    inputs = Inputs(raw=rng.normal(size=(N, F)) + label, label=label,
                    classes=np.arange(1.0, K + 1)[None, :],
                    init=initial_params(program, 0), lr=LR, n=float(N),
                    test_raw=rng.normal(size=(N_TEST, F)) + test_label,
                    test_label=test_label)  # fmt: skip
    return program, train(program, inputs), inputs


@pytest.fixture(scope="module")
def calls():
    """Every step of every sample program on the last epoch's values: (step, env, args, its
    block's shape, where it runs)."""
    out = []
    for spec in _specs():
        program, values, inputs = _run(spec)
        for where, steps in (("data", program.data_steps), ("epoch", program.epoch_steps),
                             ("final", program.final_steps)):  # fmt: skip
            for step in steps:
                args = [values[program.locate(a, EPOCHS)] for a in step.args]
                out_key = (step.out, EPOCHS if where == "epoch" else None)
                out.append((step, inputs.env(), args, values[out_key].shape, where))
    return out


def test_the_samples_use_every_op(calls):
    unused = set(OPS) - {step.op.name for step, *_ in calls}
    assert not unused, f"no sample program uses {sorted(unused)}"


def test_every_op_has_its_group(calls):
    """An epoch step's op is in one of the groups exercises give or leave blank; the data
    preparation and the final summary, which every exercise gives, are in none."""
    epoch = {step.op.name for step, *_, where in calls if where == "epoch"}
    for op in OPS.values():
        if op.name in epoch:
            assert op.group in GROUPS, op.name
        else:
            assert op.group is None, op.name


def test_every_activation_has_its_backward_op():
    for act in ACTIVATIONS:
        op = OPS[act]
        assert op.group == "forward", act
        assert op.backward in OPS and OPS[op.backward].group == "backward", act
    assert {op.name for op in OPS.values() if op.backward} == set(ACTIVATIONS)


def _exact(value: float, inputs: set[float], divisors: set[float]) -> bool:
    """A value with no rounding of its own: an input's, or a whole number over a divisor."""
    return value in inputs or any(float(np.round(value * d)) / d == value for d in divisors)


def test_every_exact_op_is_exact_in_numpy(calls):
    """What verify forgives no rounding holds copies of its inputs, 0/1, counts, or counts
    over N (or over the held-out samples)."""
    for step, env, args, _, _ in calls:
        if not step.op.exact:
            continue
        got = step.op.numpy(env, *args)
        inputs = {float(v) for a in args for v in a.ravel()}
        divisors = {1.0, env.n, *(float(a.shape[0]) for a in args)}
        wrong = [v for v in got.ravel() if not _exact(float(v), inputs, divisors)]
        assert not wrong, f"{step.op.name} of {step.out}: {wrong[:3]}"


def test_verbatim_ops_return_their_input_and_tie_ops_pick_an_input_column(calls):
    """A verbatim op (verify allows it no difference) returns its one input bit for bit; an op
    whose ties verify forgives picks, in each row, a class whose score is the row's largest."""
    for step, env, args, _, _ in calls:
        got = step.op.numpy(env, *args)
        if step.op.verbatim:
            assert len(args) == 1 and np.array_equal(got, args[0]), step.op.name
        if step.op.ties:
            scores, classes = args
            picked = scores[np.arange(len(scores)), np.searchsorted(classes[0], got[:, 0])]
            assert np.array_equal(picked, scores.max(axis=1)), step.op.name
    assert {op.name for op in OPS.values() if op.verbatim} == {"copy"}
    assert {op.name for op in OPS.values() if op.ties} == {"predict"}


def test_every_check_accepts_the_numpy_form(calls):
    for step, env, args, shape, _ in calls:
        want = step.op.numpy(env, *args).reshape(shape)
        label, first = step.op.check.expect(env, shape, *args)[0]
        assert np.array_equal(first, want), f"{step.op.name}: {label}"


def test_no_mistake_is_the_right_answer(calls):
    for step, env, args, shape, _ in calls:
        check = step.op.check
        if check.mistakes is None:
            continue
        want = step.op.numpy(env, *args).reshape(shape)
        for why, values in check.mistakes(env, shape, *args):
            assert not close(values, want), f"{step.op.name}: {why}"


def test_a_template_names_an_ops_own_check():
    for name, check in CHECKS.items():
        if name in OPS:
            assert check == OPS[name].check, name
