"""TorchScript and ``torch.export`` programs are code: load one untrusted only when it is pure tensor work.

Without ``--trust-checkpoint`` a program loads only when

* **nothing in the file runs while loading.** A TorchScript archive whose code defines
  ``__setstate__`` (run by ``torch.jit.load``) or uses a ``torch.classes`` object (C++ code
  unpickled with it) is refused before loading. A ``torch.export`` archive is read (zip members
  and their JSON) before ``torch.export.load`` sees it, because torch unpickles with
  ``weights_only=False`` every weight or constant marked ``use_pickle``, every ``custom_obj_`` /
  ``opaque_obj_`` constant, and the sample inputs (and an older torch's ``.pt`` weights and
  constants) when a ``weights_only`` load of them fails; it loads compiled libraries from
  ``data/aotinductor/``; it evaluates the symbolic sizes (``expr_str``, through
  ``sympy.sympify``) and executes the ``guards_code``; it writes names and attribute paths into
  the ``forward`` it generates. So only the members ``torch.export.save`` writes are accepted, no
  payload may be pickled, ``.pt`` members must load with ``weights_only=True``, every expression
  must be numbers, symbols, arithmetic, comparisons and the sympy functions torch writes (checked
  on its syntax tree), and every name must be word characters, dots and hyphens (input names:
  identifiers).
* **every operation in its graphs is a pure tensor operation**: for TorchScript every function
  the archive's code compiles to (so calls need no following), blocks and forked subgraphs
  included; for an export every node of the graph module and its subgraphs. The rule: the
  operator's namespace is ``aten`` or ``prim`` (torch's own; custom ``torch.ops`` namespaces are
  unknown code), its schema takes no ``str filename`` (``aten::from_file`` maps a file into a
  tensor, ``aten::save`` writes one), and it is not one of the few ``prim`` operators that call
  Python or a remote host (:data:`LEAVES_THE_GRAPH`); printing is allowed. An export graph may
  also use the symbolic-size arithmetic torch's serializer knows (``operator.mul``,
  ``torch.sym_max``...), ``operator.getitem`` and the higher-order operators that only run their
  (checked) subgraphs (:data:`SUBGRAPH_RUNNERS`); its inputs may not be string constants (torch
  writes those into the guard code it executes).

A refusal names the operator (or member) and the flag; with the flag, programs load as torch loads them.
"""

from __future__ import annotations

import ast
import functools
import io
import json
import keyword
import math
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from latentviz.errors import InputError, UnsafeCheckpointError

ALLOWED_NAMESPACES = ("aten", "prim")
# torch's higher-order operators that only run their subgraphs (walked like the main graph) under a grad or
# autocast mode, or as control flow; any other (custom-op wrappers, effects, kernels, delegates) is refused.
SUBGRAPH_RUNNERS = frozenset({"wrap_with_set_grad_enabled", "wrap_with_autocast", "cond", "while_loop"})
LEAVES_THE_GRAPH = frozenset(
    {
        "prim::PythonOp",
        "prim::IgnoredPythonOp",  # calls Python
        "prim::rpc_async",
        "prim::rpc_sync",
        "prim::rpc_remote",  # calls another host
    }
)
# The sympy names torch writes into ``expr_str`` (torch's own functions are added from their module).
_SYMPY_NAMES = frozenset(
    {
        "Symbol",
        "Integer",
        "Rational",
        "Float",
        "Add",
        "Mul",
        "Pow",
        "Abs",
        "Max",
        "Min",
        "Mod",
        "Eq",
        "Ne",
        "Lt",
        "Le",
        "Gt",
        "Ge",
        "StrictLessThan",
        "StrictGreaterThan",
        "LessThan",
        "GreaterThan",
        "Equality",
        "Unequality",
        "And",
        "Or",
        "Not",
        "floor",
        "ceiling",
        "oo",
        "zoo",
        "nan",
        "true",
        "false",
        "True",
        "False",
    }
)
_GUARD_NAMES = frozenset({"L", "inf", "IsNonOverlappingAndDenseIndicator", "cast_symbool_to_symint_guardless"})
_TENSOR_QUERIES = frozenset({"size", "stride", "storage_offset", "dim", "numel"})
_SYMBOL = re.compile(r"[a-z]+[0-9]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[\w.\-]*")


def _refuse(path, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"checkpoint {path}: {what}; a program is code and untrusted only pure tensor "
        "programs load, so nothing was run. If you trust its source, pass --trust-checkpoint"
    )


def operator_refusal(name: str, schema=None) -> str | None:
    """Why the operator ``name`` (``aten::linear``) is not a pure tensor operation, or None when it is."""
    if name in LEAVES_THE_GRAPH:
        return "calls code outside the program's graph"
    if name.split("::")[0] not in ALLOWED_NAMESPACES:
        return "is not one of torch's own operators (aten, prim)"
    if schema is not None and any(a.name == "filename" and str(a.type) == "str" for a in schema.arguments):
        return "reads or writes a file"
    return None


# -- TorchScript --------------------------------------------------------------------------------------------------
def load_torchscript(path: Path, *, trust: bool):
    """What ``torch.jit.load`` does, after the checks above unless trusted.

    Its steps are taken here to keep the compilation unit: every function the archive's code
    defines (each module's and class's methods, hooks, ``__enter__``/``__exit__``) is in it, so
    every graph that can run is checked, whoever calls it.
    """
    from torch.jit._recursive import wrap_cpp_module

    if not trust:
        _check_torchscript_archive(path)
    unit = torch._C.CompilationUnit()
    try:
        # torch's stub omits restore_shapes, which torch.jit.load passes as well
        module = wrap_cpp_module(torch._C.import_ir_module(unit, str(path), torch.device("cpu"), {}, False))  # type: ignore[call-arg]
    except Exception as exc:  # torch raises RuntimeError / zip errors
        raise InputError(f"checkpoint {path}: not a loadable TorchScript archive ({type(exc).__name__})") from exc
    if not trust:
        # torch's stub says get_functions returns None; it returns the unit's functions
        for function in unit.get_functions():  # type: ignore[func-returns-value, attr-defined]
            _check_script_block(function.graph, path)
    return module


def _check_torchscript_archive(path: Path) -> None:
    """Refuse code that ``torch.jit.load`` itself runs: ``__setstate__`` and ``torch.classes`` objects."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if len(set(names)) != len(names):
            raise _refuse(path, "the archive repeats a member name")
        for name in names:
            if re.fullmatch(r"[^/]+/data/\d+", name):  # raw tensor storage
                continue
            text = archive.read(name)
            for token, what in (
                (b"__setstate__", "defines __setstate__, which runs while the file loads"),
                (b"torch.classes", "holds a torch.classes object, whose C++ code runs while it loads"),
            ):
                if token in text:
                    raise _refuse(path, f"its member {name} {what}")


def _check_script_block(block, path) -> None:
    for node in block.nodes():
        kind = node.kind()
        try:
            schema = node.schema()
            schema = None if schema == "(no schema)" else torch._C.parse_schema(schema)
        except RuntimeError:
            schema = None
        why = operator_refusal(kind, schema)
        if why:
            raise _refuse(path, f"its program calls {kind}, which {why}")
        for sub in node.blocks():
            _check_script_block(sub, path)
        if "Subgraph" in node.attributeNames():  # prim::fork
            _check_script_block(node.g("Subgraph"), path)


# -- torch.export ---------------------------------------------------------------------------------------------------
def load_export(path: Path, *, trust: bool):
    """``torch.export.load``, after the checks above unless trusted; returns the ExportedProgram."""
    if not trust:
        _check_export_archive(path)
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises RuntimeError / SerializeError / AssertionError / zip errors
        raise InputError(
            f"checkpoint {path}: not a loadable torch.export program ({type(exc).__name__}: {exc})"
        ) from exc
    if not trust:
        _check_export_graph(program, path)
    return program


def _export_members() -> list[re.Pattern]:
    """The members ``torch.export.save`` writes (relative to the archive's root folder), from torch's own names."""
    from torch.export.pt2_archive import constants as c

    name = r"[A-Za-z0-9_.-]+"
    exact = (c.ARCHIVE_FORMAT_PATH, c.ARCHIVE_VERSION_PATH, "byteorder", ".data/version", ".data/serialization_id")
    return [re.compile(re.escape(p)) for p in exact] + [
        re.compile(re.escape(c.MODELS_DIR) + name + r"\.json"),
        re.compile(re.escape(c.WEIGHTS_CONFIG_FILENAME_FORMAT).replace(r"\{\}", name)),
        re.compile(re.escape(c.CONSTANTS_CONFIG_FILENAME_FORMAT).replace(r"\{\}", name)),
        re.compile(re.escape(c.WEIGHTS_DIR + c.WEIGHT_FILENAME_PREFIX) + r"\d+"),
        re.compile(re.escape(c.CONSTANTS_DIR + c.TENSOR_CONSTANT_FILENAME_PREFIX) + r"\d+"),
        re.compile(re.escape(c.SAMPLE_INPUTS_FILENAME_FORMAT).replace(r"\{\}", name)),
        re.compile(f"({re.escape(c.WEIGHTS_DIR)}|{re.escape(c.CONSTANTS_DIR)}){name}\\.pt"),  # older torch's layout
        re.compile(re.escape(c.EXTRA_DIR) + r"[^/]+"),
    ]


def _check_export_archive(path: Path) -> None:
    """Refuse, before torch reads it, anything in the archive that torch would unpickle, execute or evaluate."""
    from torch.export.pt2_archive import constants as c

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if len(set(names)) != len(names):
            raise _refuse(path, "the archive repeats a member name")
        root = names[0].split("/")[0] if names else ""
        allowed = _export_members()
        for name in names:
            inner = name[len(root) + 1 :] if name.startswith(root + "/") else None
            if inner is None or not any(p.fullmatch(inner) for p in allowed):
                raise _refuse(
                    path,
                    f"its member {name} is not part of a plain torch.export.save archive "
                    "(torch would unpickle or load compiled code from it)",
                )
        for name in names:
            inner = name[len(root) + 1 :]
            if inner.endswith("_config.json") and inner.startswith((c.WEIGHTS_DIR, c.CONSTANTS_DIR)):
                for fqn, entry in _json(archive, name, path).get("config", {}).items():
                    _check_name(fqn, path)
                    if entry.get("use_pickle") is not False:
                        raise _refuse(
                            path, f"its payload {fqn} ({name}) is a pickle, which torch loads with weights_only=False"
                        )
            elif inner.endswith(".pt"):  # sample inputs, or an older torch's weights or constants
                try:
                    torch.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True)
                except Exception as exc:  # what fails here, torch retries with weights_only=False
                    raise _refuse(
                        path,
                        f"its member {name} holds pickled Python objects, which torch loads with weights_only=False",
                    ) from exc
            elif inner.startswith(c.MODELS_DIR):
                _check_program_json(_json(archive, name, path), path)


def _json(archive: zipfile.ZipFile, name: str, path) -> dict:
    try:
        value = json.loads(archive.read(name))
    except ValueError as exc:
        raise InputError(f"checkpoint {path}: its member {name} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InputError(f"checkpoint {path}: its member {name} is not a JSON object")
    return value


def _entries(value):
    """Every (key, value) pair of every JSON object inside ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                yield key, inner
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def _check_program_json(program: dict, path) -> None:
    """The strings of a serialized program that torch evaluates or writes into the code it generates."""
    for guard in program.get("guards_code") or []:
        _check_expression(guard, path, guard=True)
    for key, value in _entries(program):
        if key == "expr_str":
            _check_expression(value, path, guard=False)
        elif key == "target" and isinstance(value, str) and value.startswith("torch.ops."):
            namespace, _, op = value[len("torch.ops.") :].partition(".")
            if namespace not in (*ALLOWED_NAMESPACES, "higher_order"):  # found again, with its schema, after loading
                raise _refuse(
                    path,
                    f"its program calls {namespace}::{op.split('.')[0]}, which {operator_refusal(namespace + '::')}",
                )
        elif key == "forward_arg_names":  # become the generated forward's parameters, verbatim
            for arg in value or []:
                if not (isinstance(arg, str) and arg.isidentifier() and not keyword.iskeyword(arg)):
                    raise _refuse(
                        path, f"its input name {str(arg)[:40]!r} is not an identifier, and torch writes it into code"
                    )
        elif key in ("name", "as_name", "fqn") or key.endswith(("_name", "_fqn")):
            _check_name(value, path)
        elif key.endswith("_values") and isinstance(value, dict):
            for name in value:
                _check_name(name, path)


def _check_name(name, path) -> None:
    """Names and attribute paths (``body.0.weight``) reach generated code quoted or bare: no quotes, no code."""
    if name is not None and not (isinstance(name, str) and _NAME.fullmatch(name)):
        raise _refuse(
            path, f"its name {str(name)[:40]!r} is not a name (torch writes names into the code it generates)"
        )


@functools.cache
def _sympy_names() -> frozenset:
    import sympy
    from torch.utils._sympy import functions

    return _SYMPY_NAMES | {n for n, v in vars(functions).items() if isinstance(v, type) and issubclass(v, sympy.Basic)}


def _check_expression(text: str, path, *, guard: bool) -> None:
    """Refuse an expression torch would evaluate unless it is arithmetic on numbers, symbols and sizes.

    Symbolic sizes look like ``Symbol('s77', positive=True, integer=True)``; guards like
    ``L['x'].size()[0] <= 1024``. Strings may only name a symbol or an input; no attribute but a
    tensor's size queries (and ``math`` functions in guards); no names but the functions torch writes.
    """
    what = "guard" if guard else "symbolic size"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _refuse(path, f"its {what} expression {text[:60]!r} is not an expression torch writes") from None
    names = _GUARD_NAMES if guard else _sympy_names()
    strings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Symbol" and node.args:
            strings.add(id(node.args[0]))
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "L":
            strings.add(id(node.slice))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            ok = node.id in names or (not guard and _SYMBOL.fullmatch(node.id) is not None)
        elif isinstance(node, ast.Constant):
            ok = type(node.value) in (int, float, bool, type(None)) or (
                isinstance(node.value, str) and id(node) in strings and _IDENTIFIER.fullmatch(node.value) is not None
            )
        elif isinstance(node, ast.Attribute):
            ok = guard and (
                node.attr in _TENSOR_QUERIES
                and not isinstance(node.value, ast.Name)
                or isinstance(node.value, ast.Name)
                and node.value.id == "math"
                and not node.attr.startswith("_")
                and callable(getattr(math, node.attr, None))
            )
        elif isinstance(node, ast.Call):
            ok = isinstance(node.func, (ast.Name, ast.Attribute))
        elif isinstance(node, ast.Subscript):
            ok = guard
        else:
            ok = isinstance(
                node,
                (
                    ast.Expression,
                    ast.BinOp,
                    ast.UnaryOp,
                    ast.Compare,
                    ast.BoolOp,
                    ast.keyword,
                    ast.Load,
                    ast.operator,
                    ast.unaryop,
                    ast.cmpop,
                    ast.boolop,
                ),
            )
        if not ok:
            raise _refuse(
                path,
                f"its {what} expression {text[:60]!r} holds {type(node).__name__.lower()} "
                f"'{ast.unparse(node)[:30] if isinstance(node, ast.expr) else ''}', which torch would evaluate",
            )


def _export_operator_refusal(target) -> tuple[str, str | None]:
    """The name of an export graph node's target and why it is refused (None when allowed)."""
    import operator

    from torch._export.serde.serialize import _SYM_OPS

    if isinstance(target, torch._ops.OpOverload):
        name = target.name()
        return name, operator_refusal(name.split(".")[0], target._schema)
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"torch.ops.higher_order.{target.name()}", (
            None if target.name() in SUBGRAPH_RUNNERS else "is not one of torch's own tensor operators"
        )
    name = f"{getattr(target, '__module__', None) or ''}.{getattr(target, '__name__', target)}"
    if target in _SYM_OPS or target is operator.getitem:
        return name, None
    return name, "is not one of torch's own tensor operators"


def _check_export_graph(program, path) -> None:
    for graph_module in program.graph_module.modules():
        if not isinstance(graph_module, torch.fx.GraphModule):
            continue
        for node in graph_module.graph.nodes:
            if node.op == "placeholder" and isinstance(node.meta.get("val"), str):  # torch writes it into guard code
                raise _refuse(
                    path, f"its input {node.name} is a string constant, which torch would execute as guard code"
                )
            if node.op in ("call_module", "call_method"):
                raise _refuse(path, f"its program calls {node.target} ({node.op}), which is not a tensor operator")
            if node.op == "call_function":
                name, why = _export_operator_refusal(node.target)
                if why:
                    raise _refuse(path, f"its program calls {name}, which {why}")


# -- static batch sizes ------------------------------------------------------------------------------------------
def static_batch(program) -> int | None:
    """The batch size a program was exported with when its tensor inputs' first axis is fixed, else None."""
    user_inputs = set(program.graph_signature.user_inputs)
    sizes = set()
    for node in program.graph.nodes:
        value = node.meta.get("val") if node.op == "placeholder" and node.name in user_inputs else None
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            if not isinstance(value.shape[0], int):
                return None
            sizes.add(value.shape[0])
    return sizes.pop() if len(sizes) == 1 else None


class StaticBatch(nn.Module):
    """Calls a program exported for exactly ``batch`` rows on any number of rows.

    Rows go in chunks of ``batch``; the last chunk is padded with copies of its last row and the
    padded rows are dropped from every output tensor (outputs are batch-first, as for any encoder).
    """

    def __init__(self, program: nn.Module, batch: int):
        super().__init__()
        self.program = program
        self.batch = batch

    def forward(self, x):
        from torch.utils import _pytree as pytree

        n = len(x)
        chunks = []
        for start in range(0, n, self.batch):
            part = x[start : start + self.batch]
            if len(part) < self.batch:
                part = torch.cat([part, part[-1:].expand(self.batch - len(part), *part.shape[1:])])
            chunks.append(pytree.tree_flatten(self.program(part)))
        spec = chunks[0][1]
        leaves = [
            torch.cat([leaves[i] for leaves, _ in chunks])[:n]
            if isinstance(chunks[0][0][i], torch.Tensor)
            else chunks[0][0][i]
            for i in range(len(chunks[0][0]))
        ]
        return pytree.tree_unflatten(leaves, spec)
