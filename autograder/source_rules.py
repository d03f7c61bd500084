"""Rules judged from a submission's source: banned operations and loop limits.

The course bans some operations in some functions (``torch.norm`` in kNN distances, ``torch.nn``
in hand-written layers) and limits loops (``compute_distances_one_loop``: one loop; vectorized
losses: none). A rule is checked from the submitted source, never by running it, and it must
neither be dodged nor bite honest code:

* **The code that runs is the code checked.** A function is checked together with every helper it
  reaches: module functions it names (called, passed to ``map``, used as decorators), its own
  class's methods (``self.helper(...)``), transitively. Every definition of a checked name counts
  (a second ``def`` replaces the first at run time), and a checked name rebound elsewhere
  (``f = other`` at module level, ``forward = staticmethod(g)`` in a class) cannot be verified.
* **Aliases resolve.** ``from torch import cdist as cd``, ``import torch.nn.functional as F``,
  ``T = torch``, ``dist = torch.cdist`` at module level, and ``getattr(torch, "cdist")`` all name
  ``torch.cdist``; a name the student defines (their own ``norm`` helper) is theirs, and is checked
  as a helper, not banned.
* **Loops are counted by what they iterate.** A ``for`` or comprehension over a literal, a constant
  ``range``, or a tensor's ``shape`` (its number of dimensions is fixed) does not grow with the
  data and is not a loop for the rule; every ``while``, every other ``for`` and comprehension, and
  the loops in disguise — ``map``, ``filter``, ``reduce``, ``itertools``, ``Tensor.apply_`` /
  ``map_`` and recursion — are. Builtins such as ``max(x)`` are not counted: the course's own
  formulas use them on small Python lists (``make_one_hot``'s ``1 + max(x)``). Code inside
  ``raise`` and ``assert`` (formatting an error message) is not part of the computation.
* **What cannot be verified fails closed.** ``exec``, ``eval``, ``compile``, ``__import__``,
  ``importlib``, ``globals()``, ``vars()``, ``__dict__``, ``sys.modules`` and ``getattr`` with a
  computed name make the rule unverifiable: the check fails with a sentence saying so.

:func:`check_banned` and :func:`check_loops` raise :class:`~autograder.suite.GradingFailure` with
the sentence a student reads; :class:`SourceView` gives the findings for suites that word their
own messages.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable

from autograder.suite import GradingFailure

FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
UNVERIFIABLE_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "locals", "breakpoint"}
UNVERIFIABLE_NAMES = {"importlib", "__builtins__", "builtins", "__dict__", "__getattribute__", "attrgetter",
                      "methodcaller", "__globals__", "__code__", "__closure__", "func_globals"}
DISGUISED_LOOPS = {"map", "filter", "reduce", "starmap", "accumulate", "apply_", "map_", "map2_"}
SHAPE_ATTRIBUTES = {"shape", "ndim"}
SHAPE_METHODS = {"size", "stride", "dim", "ndimension"}


@dataclass(frozen=True)
class Finding:
    """One thing a rule found: ``what`` (shown to the student), on ``line`` of ``function``."""

    what: str
    line: int
    function: str


@dataclass(frozen=True)
class Banned:
    """What a rule bans: ``names`` wherever they come from (``{"cdist", "norm"}`` bans
    ``torch.cdist``, ``x.norm()``, ``torch.linalg.norm``...) and whole ``modules`` (dotted prefixes
    such as ``"torch.nn"``), except the dotted names ``allowed`` inside them (the course's own hint
    ``torch.nn.functional.pad`` in a hand-written convolution)."""

    names: frozenset = frozenset()
    modules: tuple = ()
    allowed: frozenset = frozenset()

    def __init__(self, names: Iterable[str] = (), modules: Iterable[str] = (), allowed: Iterable[str] = ()):
        object.__setattr__(self, "names", frozenset(names))
        object.__setattr__(self, "modules", tuple(modules))
        object.__setattr__(self, "allowed", frozenset(allowed))

    def bans(self, dotted: str) -> bool:
        if dotted in self.allowed:
            return False
        parts = dotted.split(".")
        if any(part in self.names for part in parts):
            return True
        return any(dotted == module or dotted.startswith(module + ".") for module in self.modules)


class SourceView:
    """One submitted module, parsed once: its definitions and what its module level binds."""

    def __init__(self, text: str, filename: str):
        self.filename = filename
        try:
            self.tree = ast.parse(text, filename)
        except SyntaxError as exc:
            raise GradingFailure(f"{filename} has a syntax error on line {exc.lineno}: {exc.msg}") from None
        _mark_inner_attributes(self.tree)
        self.definitions: dict[str, list[ast.AST]] = {}  # qualname -> every def of it, in order
        self.classes: dict[str, ast.ClassDef] = {}
        self.rebound: dict[str, int] = {}  # qualname -> line where it is rebound other than by def
        self.aliases: dict[str, str] = {}  # module-level name -> the dotted thing it names
        self.module_unverifiable: list[Finding] = []
        for node in self.tree.body:
            if isinstance(node, FUNCTION_DEFS):
                self.definitions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
                self._class_body(node)
            else:
                self._module_statement(node)

    @classmethod
    def of(cls, student, filename: str) -> SourceView:
        """The view of a submitted module (``student.source``); a syntax error is a GradingFailure."""
        return cls(student.source(filename), filename)

    # -- reading the module level --------------------------------------------------------------

    def _class_body(self, node: ast.ClassDef) -> None:
        for item in node.body:
            if isinstance(item, FUNCTION_DEFS):
                self.definitions.setdefault(f"{node.name}.{item.name}", []).append(item)
            elif isinstance(item, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                for target in targets:
                    for name in _bound_names(target):
                        self.rebound.setdefault(f"{node.name}.{name}", item.lineno)

    def _module_statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self.aliases.update(_import_aliases(node))
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    dotted = self.dotted(value)
                    if dotted:
                        self.aliases[target.id] = dotted
                for name in _bound_names(target):
                    self.rebound.setdefault(name, node.lineno)
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    self.rebound.setdefault(f"{target.value.id}.{target.attr}", node.lineno)
        for inner in ast.walk(node):  # module-level code runs at import: it may rewrite anything
            problem = self._unverifiable(inner)
            if problem:
                self.module_unverifiable.append(Finding(problem, inner.lineno, "<module level>"))

    # -- names -----------------------------------------------------------------------------------

    def dotted(self, node: ast.AST, aliases: dict[str, str] | None = None) -> str | None:
        """``torch.nn.functional.relu`` for ``F.relu`` (``F`` an alias: module-level, or in
        ``aliases``), for ``getattr(torch, "cdist")``...; None for what has no static name (a
        call's result)."""
        aliases = self.aliases if aliases is None else aliases
        if isinstance(node, ast.Name):
            return aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value, aliases)
            return f"{base}.{node.attr}" if base else f"?.{node.attr}"
        if _is_getattr_with_constant(node):
            base = self.dotted(node.args[0], aliases)
            return f"{base or '?'}.{node.args[1].value}"
        return None

    def _unverifiable(self, node: ast.AST) -> str:
        """Why ``node`` makes a source rule unverifiable ('' when it does not)."""
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in UNVERIFIABLE_CALLS:
                return f"`{name}()`"
            if name in ("getattr", "setattr", "delattr", "hasattr") and not _is_getattr_with_constant(node):
                if name != "hasattr":
                    return f"`{name}` with a computed attribute name"
        if isinstance(node, ast.Name) and node.id in UNVERIFIABLE_NAMES:
            return f"`{node.id}`"
        if isinstance(node, ast.Attribute) and node.attr in UNVERIFIABLE_NAMES:
            return f"`.{node.attr}`"
        if isinstance(node, ast.Attribute) and node.attr == "modules" and self.dotted(node.value) == "sys":
            return "`sys.modules`"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if any(n.split(".")[0] in ("importlib", "builtins", "ctypes") for n in names):
                return f"`import {names[0]}`"
        return ""

    # -- what a function reaches ---------------------------------------------------------------

    def reach(self, qualname: str, follow_classes: bool = False) -> list[tuple[str, ast.AST]]:
        """``(qualname, def node)`` of every definition of ``qualname`` and of each helper it
        reaches: module functions it names, its class's methods it calls through ``self``/``cls``
        or the class name (any class's methods with ``follow_classes``), transitively.
        Raises GradingFailure when ``qualname`` is not defined."""
        if qualname not in self.definitions:
            if qualname in self.rebound:
                return []  # bound by an assignment: :meth:`unverifiable` says so
            raise GradingFailure(f"{self.filename} has no function {qualname}")
        found, todo, seen = [], [qualname], {qualname}
        while todo:
            name = todo.pop(0)
            owner = name.split(".")[0] if "." in name else None
            for node in self.definitions.get(name, []):
                found.append((name, node))
                for callee in self._named_definitions(node, owner, follow_classes):
                    if callee not in seen:
                        seen.add(callee)
                        todo.append(callee)
        return found

    def _named_definitions(self, function: ast.AST, owner: str | None, follow_classes: bool) -> list[str]:
        local = _locally_bound(function)
        names = []
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and node.id not in local:
                if node.id in self.definitions:
                    names.append(node.id)
                elif follow_classes and node.id in self.classes:
                    names += [q for q in self.definitions if q.startswith(node.id + ".")]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                base = node.value.id
                cls = owner if base in ("self", "cls") else base if base in self.classes else None
                if cls and (cls == owner or follow_classes) and f"{cls}.{node.attr}" in self.definitions:
                    names.append(f"{cls}.{node.attr}")
        return names

    def _own_method(self, node: ast.Attribute, owner: str | None) -> bool:
        """``self.helper`` / ``cls.helper`` / ``Class.helper`` naming a method the student defines."""
        if not isinstance(node.value, ast.Name):
            return False
        base = node.value.id
        cls = owner if base in ("self", "cls") else base if base in self.classes else None
        return bool(cls) and f"{cls}.{node.attr}" in self.definitions

    # -- findings --------------------------------------------------------------------------------

    def unverifiable(self, qualname: str, follow_classes: bool = False) -> list[Finding]:
        """What makes the rules on ``qualname`` unverifiable: rebinding of it or its helpers,
        import-time code that can rewrite the module, and indirection inside the code it reaches."""
        reached = self.reach(qualname, follow_classes)
        found = []
        for name in [qualname] + [n for n, _ in reached]:
            if name in self.rebound and (name in self.definitions or name == qualname):
                found.append(Finding(f"`{name}` is rebound by an assignment", self.rebound[name], name))
        found += self.module_unverifiable
        for name, function in reached:
            for node in _computation(function):
                problem = self._unverifiable(node)
                if problem:
                    found.append(Finding(problem, node.lineno, name))
        return _unique(found)

    def banned(self, qualname: str, banned: Banned, follow_classes: bool = False) -> list[Finding]:
        """Every use of something ``banned`` in ``qualname`` and the code it reaches. An import
        inside a function is an alias like one at module level: what counts is what its names
        are used for (``import torch.nn.functional as G`` then ``G.pad`` uses only pad)."""
        found = []
        module_names = set(self.definitions) | set(self.classes)
        for name, function in self.reach(qualname, follow_classes):
            owner = name.split(".")[0] if "." in name else None
            local = _locally_bound(function)
            aliases = {**self.aliases, **{alias: dotted for node in ast.walk(function)
                                          if isinstance(node, (ast.Import, ast.ImportFrom))
                                          for alias, dotted in _import_aliases(node).items()}}
            for node in _computation(function):
                if isinstance(node, ast.keyword) and node.arg and node.arg in banned.names:
                    found.append(Finding(f"`{node.arg}=`", node.value.lineno, name))
                    continue
                if isinstance(node, ast.Attribute) and not self._own_method(node, owner):
                    dotted = self.dotted(node, aliases)
                    if dotted and banned.bans(dotted) and not _inner_attribute(node):
                        found.append(Finding(f"`{dotted.removeprefix('?.')}`", node.lineno, name))
                elif _is_getattr_with_constant(node):
                    dotted = self.dotted(node, aliases)
                    if banned.bans(dotted):
                        found.append(Finding(f"`{dotted.removeprefix('?.')}`", node.lineno, name))
                elif isinstance(node, ast.Name) and node.id not in local and not _chain_base(node):
                    if node.id in module_names and node.id not in aliases:
                        continue  # the student's own function or class: checked as a helper
                    dotted = aliases.get(node.id, node.id)
                    if banned.bans(dotted) and (node.id in aliases or node.id in banned.names):
                        found.append(Finding(f"`{dotted}`", node.lineno, name))
        return _unique(found)

    def loops(self, qualname: str, follow_classes: bool = False) -> list[Finding]:
        """Every loop whose trip count grows with the data, loop in disguise and recursion in
        ``qualname`` and the code it reaches."""
        reached = self.reach(qualname, follow_classes)
        found = []
        for name, function in reached:
            for node in _computation(function):
                what = self._loop(node)
                if what:
                    found.append(Finding(what, node.lineno, name))
        found += self._recursion(qualname, reached)
        return _unique(found)

    def _loop(self, node: ast.AST) -> str:
        if isinstance(node, ast.While):
            return "a while loop"
        if isinstance(node, (ast.For, ast.AsyncFor)):
            return "" if self._bounded(node.iter) else "a for loop"
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if all(self._bounded(g.iter) for g in node.generators):
                return ""
            return "a generator expression" if isinstance(node, ast.GeneratorExp) else "a comprehension"
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            dotted = self.dotted(node.func) or ""
            if name in DISGUISED_LOOPS or dotted.startswith("itertools."):
                return f"`{name}()` (a loop in disguise)"
        return ""

    def _bounded(self, iterable: ast.AST) -> bool:
        """Whether iterating ``iterable`` takes a number of steps that does not grow with the data:
        a literal, a constant ``range``, a tensor's shape, or those zipped and enumerated."""
        if isinstance(iterable, ast.Dict):
            return True
        if isinstance(iterable, (ast.Tuple, ast.List, ast.Set)):
            return not any(isinstance(e, ast.Starred) for e in iterable.elts)
        if isinstance(iterable, ast.Constant):
            return True
        if isinstance(iterable, ast.Subscript):
            return self._shape_like(iterable.value)
        if self._shape_like(iterable):
            return True
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name):
            name = iterable.func.id
            if name == "range":
                return all(self._constant_int(a) for a in iterable.args)
            if name in ("enumerate", "zip", "reversed", "sorted", "list", "tuple"):
                return bool(iterable.args) and all(self._bounded(a) for a in iterable.args)
        return False

    def _shape_like(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr in SHAPE_ATTRIBUTES
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return node.func.attr in SHAPE_METHODS
        return False

    def _constant_int(self, node: ast.AST) -> bool:
        """A number that does not grow with the data: a literal, or a tensor's number of dimensions."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.UnaryOp):
            return self._constant_int(node.operand)
        if isinstance(node, ast.BinOp):
            return self._constant_int(node.left) and self._constant_int(node.right)
        if isinstance(node, ast.Attribute):
            return node.attr == "ndim"
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("dim", "ndimension"):
                return True
            if isinstance(node.func, ast.Name) and node.func.id == "len" and len(node.args) == 1:
                return self._shape_like(node.args[0])
        return False

    def _recursion(self, qualname: str, reached: list[tuple[str, ast.AST]]) -> list[Finding]:
        """A function that reaches itself again (directly or through helpers) loops in disguise."""
        graph = {name: set() for name, _ in reached}
        for name, function in reached:
            owner = name.split(".")[0] if "." in name else None
            graph[name] |= set(self._named_definitions(function, owner, False))
        found = []
        for name, function in reached:
            stack, seen = list(graph.get(name, ())), set()
            while stack:
                current = stack.pop()
                if current == name:
                    found.append(Finding("recursion (a loop in disguise)", function.lineno, name))
                    break
                if current not in seen:
                    seen.add(current)
                    stack.extend(graph.get(current, ()))
        return found


# --------------------------------------------------------------------------------------------
# the checks suites call


def check_banned(student, filename: str, qualname: str, banned: Banned, rule: str,
                 follow_classes: bool = False) -> None:
    """GradingFailure when ``qualname`` (or the code it reaches) uses something ``banned``, or
    when that cannot be verified. ``rule`` says the rule to the student ("must compute the
    distances itself, without torch.norm, torch.dist, torch.cdist or torch.nn")."""
    view = SourceView.of(student, filename)
    fail_if_unverifiable(view, qualname, follow_classes)
    found = view.banned(qualname, banned, follow_classes)
    if found:
        raise GradingFailure(f"{qualname} {rule}; found {_where(found, qualname)}")


def check_loops(student, filename: str, qualname: str, most: int = 0, instead: str = "",
                follow_classes: bool = False) -> None:
    """GradingFailure when ``qualname`` (with the code it reaches) has more than ``most`` loops
    whose trip count grows with the data (loops in disguise and recursion count), or when that
    cannot be verified. ``instead`` says what to do instead."""
    view = SourceView.of(student, filename)
    fail_if_unverifiable(view, qualname, follow_classes)
    found = view.loops(qualname, follow_classes)
    if len(found) > most:
        allowed = "no Python loop" if most == 0 else f"at most {most} Python loop{'s' if most > 1 else ''}"
        hint = f"; {instead}" if instead else ""
        raise GradingFailure(f"{qualname} may use {allowed} over the data (nor call a function that does), "
                             f"but has {_where(found, qualname)}{hint}")


def fail_if_unverifiable(view: SourceView, qualname: str, follow_classes: bool = False) -> None:
    problems = view.unverifiable(qualname, follow_classes)
    if problems:
        raise GradingFailure(f"the rules on {qualname} cannot be verified from the source, so they count as "
                             f"broken: it uses {_where(problems, qualname)}; write it without that indirection")


# --------------------------------------------------------------------------------------------
# helpers


def _where(found: list[Finding], qualname: str) -> str:
    shown = [f"{f.what} on line {f.line}" + (f" (in {f.function})" if f.function not in (qualname, "<module level>")
                                              else "") for f in found[:4]]
    more = f" and {len(found) - 4} more" if len(found) > 4 else ""
    return ", ".join(shown) + more


def _unique(found: list[Finding]) -> list[Finding]:
    seen, result = set(), []
    for finding in sorted(found, key=lambda f: (f.line, f.what)):
        key = (finding.what, finding.line)
        if key not in seen:
            seen.add(key)
            result.append(finding)
    return result


def _computation(function: ast.AST):
    """The nodes of ``function`` (decorators included) that compute: ``raise`` and ``assert``
    statements, which only format errors, are left out."""
    stack = [function]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Raise, ast.Assert)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _locally_bound(function: ast.AST) -> set[str]:
    """Names ``function`` binds itself: arguments, assignments, loop targets, inner defs, imports."""
    names = {a.arg for a in ast.walk(function) if isinstance(a, ast.arg)}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, FUNCTION_DEFS + (ast.ClassDef,)) and node is not function:
            names.add(node.name)
    return names


def _bound_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for element in target.elts for n in _bound_names(element)]
    return []


def _import_aliases(node: ast.AST) -> dict[str, str]:
    """Name -> dotted origin for an import statement."""
    aliases = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                aliases[alias.asname] = alias.name
            else:
                aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
    elif isinstance(node, ast.ImportFrom) and node.module:
        for alias in node.names:
            if alias.name != "*":
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _is_getattr_with_constant(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))


def _inner_attribute(node: ast.Attribute) -> bool:
    """Whether ``node`` is only part of a longer attribute chain (``torch.nn`` inside
    ``torch.nn.functional``): the outermost one is reported instead."""
    return getattr(node, "_eecs498_inner", False)


def _chain_base(node: ast.Name) -> bool:
    """Whether ``node`` only starts an attribute chain (``F`` of ``F.relu``) or a ``getattr``:
    the chain's full name is what a rule judges."""
    return getattr(node, "_eecs498_base", False)


def _mark_inner_attributes(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            node.value._eecs498_inner = True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            node.value._eecs498_base = True
        if _is_getattr_with_constant(node) and isinstance(node.args[0], ast.Name):
            node.args[0]._eecs498_base = True

