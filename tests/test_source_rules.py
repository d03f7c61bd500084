"""Source rules cannot be dodged and do not bite honest code (autograder/source_rules.py).

Each dodge is a real way students (or an attacker) get around a ban or a loop limit: a second
definition, aliases, ``getattr``/``__dict__``/``importlib`` indirection, ``exec``, loops in
disguise. Each honest form is a way correct code is written that a naive rule would fail.
"""
from __future__ import annotations

import textwrap

import pytest

from autograder.source_rules import Banned, SourceView, check_banned, check_loops
from autograder.suite import GradingFailure

DISTANCES = Banned({"norm", "dist", "cdist"}, ("torch.nn",))
RULE = "must compute the distances itself, without torch.norm, torch.dist, torch.cdist or torch.nn"


class Source:
    """A submission seen as the suites see it: ``source(filename)``."""

    def __init__(self, text: str):
        self.text = "import torch\n" + textwrap.dedent(text)

    def source(self, filename: str) -> str:
        return self.text


def banned(text: str, qualname: str = "f") -> str:
    """The failure message of the distances ban on ``qualname`` ('' when it passes)."""
    try:
        check_banned(Source(text), "knn.py", qualname, DISTANCES, RULE)
    except GradingFailure as failure:
        return str(failure)
    return ""


def loops(text: str, qualname: str = "f", most: int = 0) -> str:
    try:
        check_loops(Source(text), "knn.py", qualname, most)
    except GradingFailure as failure:
        return str(failure)
    return ""


# ----------------------------------------------------------------------------------------------
# bans: honest code passes


@pytest.mark.parametrize("text", [
    """
    def f(a, b):
        return (a * a).sum(1)[:, None] - 2 * a @ b.t() + (b * b).sum(1)[None, :]
    """,
    """
    def norm(v):
        return (v * v).sum(dim=-1)      # the student's own helper named like a banned function

    def f(a, b):
        return norm(a[:, None] - b[None])
    """,
    """
    def f(a, b):
        dist = ((a[:, None] - b[None]) ** 2).sum(-1)   # a local variable named like a banned function
        return dist
    """,
    """
    class Knn:
        def norm(self, v):
            return (v * v).sum(-1)

        def f(self, a, b):
            return self.norm(a[:, None] - b[None])
    """,
])
def test_honest_code_passes_the_ban(text):
    qualname = "Knn.f" if "class Knn" in text else "f"
    assert banned(text, qualname) == ""


# ----------------------------------------------------------------------------------------------
# bans: every dodge is caught, naming what and where


@pytest.mark.parametrize("text, shown", [
    ("""
    def f(a, b):
        return torch.cdist(a, b) ** 2
    """, "`torch.cdist` on line 4"),
    ("""
    from torch import cdist as cd

    def f(a, b):
        return cd(a, b) ** 2
    """, "`torch.cdist`"),
    ("""
    T = torch

    def f(a, b):
        return T.cdist(a, b) ** 2
    """, "`torch.cdist`"),
    ("""
    distance = torch.cdist

    def f(a, b):
        return distance(a, b) ** 2
    """, "`torch.cdist`"),
    ("""
    def f(a, b):
        return getattr(torch, "cdist")(a, b) ** 2
    """, "`torch.cdist`"),
    ("""
    def f(a, b):
        return (a[:, None] - b[None]).norm(dim=-1) ** 2
    """, "norm"),
    ("""
    import torch.nn.functional as F

    def f(a, b):
        return F.pairwise_distance(a, b)
    """, "`torch.nn.functional.pairwise_distance`"),
    ("""
    def helper(a, b):
        return torch.linalg.norm(a[:, None] - b[None], dim=-1) ** 2

    def f(a, b):
        return helper(a, b)
    """, "(in helper)"),
    ("""
    def f(a, b):
        return ((a[:, None] - b[None]) ** 2).sum(-1)

    def f(a, b):
        return torch.cdist(a, b) ** 2
    """, "`torch.cdist` on line 7"),
    ("""
    def f(a, b):
        return list(map(torch.dist, a, b))
    """, "`torch.dist`"),
])
def test_every_dodge_of_a_ban_is_caught(text, shown):
    message = banned(text)
    assert message.startswith(f"f {RULE}; found ") and shown in message, message


@pytest.mark.parametrize("text, shown", [
    ("""
    def f(a, b):
        return getattr(torch, "cd" + "ist")(a, b)
    """, "`getattr` with a computed attribute name"),
    ("""
    def f(a, b):
        return torch.__dict__["cdist"](a, b)
    """, "`.__dict__`"),
    ("""
    import importlib

    def f(a, b):
        return importlib.import_module("torch").cdist(a, b)
    """, "`importlib`"),
    ("""
    def f(a, b):
        return eval("torch.cdist")(a, b)
    """, "`eval()`"),
    ("""
    def f(a, b):
        exec("import torch; out = torch.cdist(a, b)")
        return a
    """, "`exec()`"),
    ("""
    def f(a, b):
        return globals()["torch"].cdist(a, b)
    """, "`globals()`"),
    ("""
    def honest(a, b):
        return ((a[:, None] - b[None]) ** 2).sum(-1)

    def f(a, b):
        return honest(a, b)

    f = lambda a, b: torch.cdist(a, b)
    """, "`f` is rebound by an assignment"),
    ("""
    def f(a, b):
        return ((a[:, None] - b[None]) ** 2).sum(-1)

    import sys
    setattr(sys.modules[__name__], "f", lambda a, b: torch.cdist(a, b))
    """, "`sys.modules`"),
])
def test_what_cannot_be_verified_fails_closed_with_a_reason(text, shown):
    message = banned(text)
    assert "cannot be verified" in message and shown in message, message


NN = Banned(modules=("torch.nn", "torch.autograd"), allowed={"torch.nn.functional.pad"})


def nn_rule(text: str) -> str:
    try:
        check_banned(Source(text), "conv.py", "f", NN, "uses no torch.nn (but pad)")
    except GradingFailure as failure:
        return str(failure)
    return ""


@pytest.mark.parametrize("text", [
    """
    import torch.nn.functional as F

    def f(x):
        return F.pad(x, (1, 1))
    """,
    """
    def f(x):
        import torch.nn.functional as G
        return G.pad(x, (1, 1))
    """,
    """
    def f(x):
        from torch.nn.functional import pad
        return pad(x, (1, 1))
    """,
    """
    def f(x):
        return torch.nn.functional.pad(x, (1, 1))
    """,
])
def test_an_allowed_name_inside_a_banned_module_is_allowed_however_it_is_spelled(text):
    assert nn_rule(text) == ""


@pytest.mark.parametrize("text, shown", [
    ("""
    import torch.nn.functional as F

    def f(x):
        return F.conv2d(F.pad(x, (1, 1)), x)
    """, "torch.nn.functional.conv2d"),
    ("""
    def f(x):
        import torch.nn.functional as G
        return G.relu(x)
    """, "torch.nn.functional.relu"),
    ("""
    def f(x):
        from torch.nn.functional import relu as r
        return r(x)
    """, "torch.nn.functional.relu"),
    ("""
    import torch.nn.functional as F

    def f(x):
        G = F
        return G.pad(x, (1, 1))
    """, "`torch.nn.functional` on line"),
])
def test_the_rest_of_a_banned_module_stays_banned(text, shown):
    message = nn_rule(text)
    assert shown in message, message


def test_a_rebound_method_in_a_class_body_fails_closed():
    text = """
    def fast(x):
        return torch.nn.functional.relu(x)

    class ReLU:
        @staticmethod
        def forward(x):
            return x.clamp(min=0)
        forward = staticmethod(fast)
    """
    assert "`ReLU.forward` is rebound" in banned(text, "ReLU.forward")


def test_a_missing_function_is_named():
    assert "has no function g" in banned("def f(a, b):\n    return a\n", "g")


# ----------------------------------------------------------------------------------------------
# loops: counted by what they iterate


@pytest.mark.parametrize("text", [
    """
    def f(x):
        return (x * x).sum()
    """,
    """
    def f(x):
        total = x.new_zeros(())
        for scale in (1.0, 2.0, 3.0):               # a literal: three steps whatever the data
            total = total + scale * x.sum()
        return total
    """,
    """
    def f(x):
        sizes = [size for size in x.shape]           # the shape: as many steps as dimensions
        return x.reshape(sizes[0], -1)
    """,
    """
    def f(x):
        for d in range(x.dim()):                     # the number of dimensions, not the data
            x = x - x.mean(dim=d, keepdim=True)
        return x
    """,
    """
    def f(x, k):
        if k < 0:
            raise ValueError("bad k: " + ", ".join(str(v) for v in x.tolist()))  # an error message
        return x * k
    """,
    """
    def f(x):
        return x.sum(dim=tuple(range(1, 4)))
    """,
    """
    def f(x):
        return torch.zeros(len(x), 1 + max(x))      # the course's own make_one_hot formula on a list
    """,
])
def test_loops_that_do_not_grow_with_the_data_are_not_loops(text):
    assert loops(text) == ""


@pytest.mark.parametrize("text, shown", [
    ("""
    def f(x):
        out = x.new_zeros(x.shape[0])
        for i in range(x.shape[0]):
            out[i] = x[i].sum()
        return out
    """, "a for loop on line 5"),
    ("""
    def f(x):
        i = 0
        while i < 3:
            i += 1
        return x
    """, "a while loop"),
    ("""
    def f(x):
        return torch.stack([row.sum() for row in x])
    """, "a comprehension"),
    ("""
    def f(x):
        return torch.stack(list(map(torch.sum, x)))
    """, "`map()` (a loop in disguise)"),
    ("""
    def f(x):
        return x.clone().apply_(lambda v: v * 2)
    """, "`apply_()`"),
    ("""
    def f(x):
        if x.shape[0] == 0:
            return x.new_zeros(0)
        return torch.cat([x[:1].sum(1), f(x[1:])])
    """, "recursion"),
    ("""
    def rows(x):
        return [r.sum() for r in x]

    def f(x):
        return torch.stack(rows(x))
    """, "(in rows)"),
    ("""
    import itertools

    def f(x):
        return torch.stack([a for a in itertools.chain(x)])
    """, "`chain()`"),
])
def test_loops_and_loops_in_disguise_are_counted(text, shown):
    message = loops(text)
    assert "may use no Python loop over the data" in message and shown in message, message


def test_one_loop_allows_one_and_refuses_two():
    one = """
    def f(x, y):
        out = x.new_zeros(x.shape[0], y.shape[0])
        for j in range(y.shape[0]):
            out[:, j] = ((x - y[j]) ** 2).sum(1)
        return out
    """
    two = one.replace("        out[:, j]", "        for i in range(2 * x.shape[0]):\n                out[:, j]")
    assert loops(one, most=1) == ""
    assert "at most 1 Python loop" in loops(two, most=1)


def test_loops_in_a_second_definition_count():
    text = """
    def f(x):
        return x.sum()

    def f(x):
        return sum(v for v in x)
    """
    assert "a generator expression" in loops(text)


def test_findings_are_available_to_suites_that_word_their_own_messages():
    view = SourceView(Source("def f(x):\n    return torch.cdist(x, x)\n").text, "knn.py")
    found = view.banned("f", DISTANCES)
    assert [(f.what, f.line, f.function) for f in found] == [("`torch.cdist`", 3, "f")]
    assert view.loops("f") == [] and view.unverifiable("f") == []


def test_a_syntax_error_is_a_grading_failure_naming_the_line():
    with pytest.raises(GradingFailure, match="syntax error on line 2"):
        SourceView("import torch\ndef f(:\n", "knn.py")
