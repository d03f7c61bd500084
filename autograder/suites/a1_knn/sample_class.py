"""The a1_knn sample class: the students `make demo` grades and the project's tests check.

Besides the standard students (complete, untouched, null: see autograder.samples): a partial
submission, bugs that must lose exactly their tests (ties toward the larger label, a banned
``cdist``, a loop where none is allowed, a hard-coded float32, cross-validation on folds it trained
on), ``torch.unique`` in the challenge (half its credit, as in the course), the course's habits
where they differ from ours (full marks), a hostile student, one that hangs, a syntax error, a
missing module and a corrupt zip.
"""
from __future__ import annotations

TIES_TOWARD_LARGER = {
    "predict_labels": '''
def predict_labels(dists, y_train, k=1):
    """Majority vote whose ties go to the LARGEST label (the bug)."""
    nearest = dists.topk(k, dim=0, largest=False).indices        # (k, num_test)
    votes = y_train[nearest]                                       # (k, num_test)
    num_classes = int(y_train.max()) + 1
    counts = torch.zeros(num_classes, votes.shape[1], dtype=torch.int64, device=dists.device)
    counts.scatter_add_(0, votes, torch.ones_like(votes))
    return num_classes - 1 - counts.flip(0).argmax(dim=0)         # first max from the top
''',
}

WITH_CDIST = {
    "compute_distances_no_loops": '''
def compute_distances_no_loops(x_train, x_test):
    """Right values, from a banned library call."""
    return torch.cdist(x_train.flatten(1), x_test.flatten(1)) ** 2
''',
}

WITH_LOOP = {
    "compute_distances_no_loops": '''
def compute_distances_no_loops(x_train, x_test):
    """Right values, with a Python loop where none is allowed."""
    train, test = x_train.flatten(1), x_test.flatten(1)
    dists = train.new_zeros(train.shape[0], test.shape[0])
    for j in range(test.shape[0]):
        dists[:, j] = ((train - test[j]) ** 2).sum(dim=1)
    return dists
''',
}

ALWAYS_FLOAT32 = {
    "compute_distances_no_loops": '''
def compute_distances_no_loops(x_train, x_test):
    """Right values, but always float32 (a hard-coded .float())."""
    train, test = x_train.flatten(1).float(), x_test.flatten(1).float()
    return (train ** 2).sum(1)[:, None] - 2 * train @ test.t() + (test ** 2).sum(1)[None, :]
''',
}

HOSTILE = {
    "compute_distances_two_loops": '''
def compute_distances_two_loops(x_train, x_test):
    """Try to read the hidden references and tests instead of computing anything."""
    import glob
    stolen = []
    for pattern in ("/work/**/references.ref", "/**/autograder/suites/**/*.py", "../**/*.ref"):
        for path in glob.glob(pattern, recursive=True)[:3]:
            try:
                stolen.append(open(path, "rb").read(64))
            except OSError:
                pass
    return x_train.new_full((x_train.shape[0], x_test.shape[0]), float(len(stolen)))
''',
    "compute_distances_one_loop": '''
def compute_distances_one_loop(x_train, x_test):
    """Try to kill every process it can see, the grader included."""
    import os, signal
    for target in (os.getppid(), -1, 1):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    return x_train.new_zeros(x_train.shape[0], x_test.shape[0])
''',
    "predict_labels": '''
def predict_labels(dists, y_train, k=1):
    """Try to phone home, then fork without end."""
    import os, socket
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1).close()
    except OSError:
        pass
    for _ in range(2000):
        try:
            if os.fork() == 0:
                import time; time.sleep(30); os._exit(0)
        except OSError:
            break
    return y_train[:1].repeat(dists.shape[1])
''',
    "knn_get_best_k": '''
def knn_get_best_k(k_to_accuracies):
    """Try to rewrite the helper package for the next student, and the gradebook."""
    import eecs498, glob
    for path in [eecs498.__file__] + glob.glob("/**/gradebook.db", recursive=True)[:3]:
        try:
            open(path, "a").write("# tampered")
        except OSError:
            pass
    return 1
''',
}

# The course's conventions and habits where they differ from the source solutions: each is correct
# code and must lose nothing (0-dim tensors and numpy values where numbers are returned, other
# dtypes where the course states none, builtins over a list and comprehensions that do not iterate
# over the data in no-loop rules, .cuda() without a check of our own, fractions where we use percent).
COURSE_HABITS_PYTORCH101 = {
    "create_sample_tensor": '''
def create_sample_tensor():
    return torch.tensor([[0, 10], [100, 0], [0, 0]])          # int64: the course states no dtype
''',
    "count_tensor_elements": '''
def count_tensor_elements(x):
    import numpy as np
    return np.prod(x.shape, dtype=np.int64)                    # a numpy integer
''',
    "create_tensor_of_pi": '''
def create_tensor_of_pi(M, N):
    return torch.full((M, N), 3.14, dtype=torch.float64)      # float64 3.14, as (x == 3.14) accepts
''',
    "count_negative_entries": '''
def count_negative_entries(x):
    return (x < 0).sum()                                       # a 0-dim tensor
''',
    "make_one_hot": '''
def make_one_hot(x):
    y = torch.zeros(len(x), 1 + max(x))                        # the docstring's C = 1 + max(x)
    y[list(range(len(x))), x] = 1
    return y
''',
    "sum_positive_entries": '''
def sum_positive_entries(x):
    return x[x > 0].sum()                                      # a 0-dim tensor (2022: -> Tensor)
''',
    "mm_on_gpu": '''
def mm_on_gpu(x, w):
    return x.cuda().mm(w.cuda()).cpu()                         # the course's way, no check of ours
''',
}

COURSE_HABITS_KNN = {
    "compute_distances_no_loops": '''
def compute_distances_no_loops(x_train, x_test):
    a, b = [t.reshape(t.shape[0], -1) for t in (x_train, x_test)]   # not a loop over the data
    return (a * a).sum(1)[:, None] - 2 * a @ b.t() + (b * b).sum(1)[None, :]
''',
    "knn_cross_validate": '''
def knn_cross_validate(x_train, y_train, num_folds=5, k_choices=None):
    """Fractions of correct predictions, as numpy scalars (the course returns percent)."""
    if k_choices is None:
        k_choices = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]
    x_folds, y_folds = torch.chunk(x_train, num_folds), torch.chunk(y_train, num_folds)
    result = {k: [] for k in k_choices}
    for i in range(num_folds):
        x_tr, y_tr = torch.cat(x_folds[:i] + x_folds[i + 1:]), torch.cat(y_folds[:i] + y_folds[i + 1:])
        dists = compute_distances_no_loops(x_tr, x_folds[i])
        for k in k_choices:
            result[k].append((predict_labels(dists, y_tr, k=k) == y_folds[i]).double().mean().numpy())
    return result
''',
    "knn_get_best_k": '''
def knn_get_best_k(k_to_accuracies):
    import numpy as np
    ks = np.array(sorted(k_to_accuracies))
    means = np.array([np.mean(k_to_accuracies[k]) for k in ks])
    return ks[np.argmax(means)]                                # a numpy integer
''',
}

WITH_TORCH_UNIQUE = {
    "challenge_get_uniques": '''
def challenge_get_uniques(x):
    """Right values through torch.unique: the course gives half the credit."""
    uniques, inverse = torch.unique(x, return_inverse=True)
    positions = torch.arange(x.shape[0], device=x.device)
    first = torch.full_like(uniques, x.shape[0]).scatter_reduce(0, inverse, positions, reduce="amin")
    return uniques, first
''',
}

CV_ON_EVERY_FOLD = {
    "knn_cross_validate": '''
def knn_cross_validate(x_train, y_train, num_folds=5, k_choices=None):
    """Fractions, but validates on data it also trained on (the bug)."""
    if k_choices is None:
        k_choices = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]
    y_folds = torch.chunk(y_train, num_folds)
    x_folds = torch.chunk(x_train, num_folds)
    dists = [compute_distances_no_loops(x_train, x_val) for x_val in x_folds]
    return {k: [(predict_labels(d, y_train, k=k) == y_val).double().mean().item()
                for d, y_val in zip(dists, y_folds)] for k in k_choices}
''',
}

HANGS = {
    "compute_distances_one_loop": '''
def compute_distances_one_loop(x_train, x_test):
    """Never returns."""
    while True:
        pass
''',
}


def students(kit) -> None:
    from autograder.samples import replace_functions

    knn = kit.source("knn.py")
    pytorch101 = kit.source("pytorch101.py")
    complete = kit.complete

    def knn_mutant(name: str, replacements: dict[str, str], as_zip: bool = True) -> None:
        kit.add(name, {**complete, "knn.py": replace_functions(knn, replacements)}, as_zip)

    def pytorch101_mutant(name: str, replacements: dict[str, str]) -> None:
        kit.add(name, {**complete, "pytorch101.py": replace_functions(pytorch101, replacements)}, as_zip=False)

    kit.add("cat_partial", {**complete, "knn.py": kit.released("knn.py")})
    knn_mutant("dan_ties_toward_larger", TIES_TOWARD_LARGER, as_zip=False)
    knn_mutant("eve_hostile", HOSTILE)
    knn_mutant("fay_hangs", HANGS)
    kit.add("gus_syntax_error", {**complete, "knn.py": knn.replace("def ", "def (", 1)}, as_zip=False)
    kit.add_raw("hal_corrupt", b"PK\x03\x04 not really a zip file")
    knn_mutant("ivy_cdist", WITH_CDIST, as_zip=False)
    knn_mutant("jay_loop_in_no_loops", WITH_LOOP)
    kit.add("kim_no_knn", {"pytorch101.py": complete["pytorch101.py"]}, as_zip=False, notebooks=False)
    knn_mutant("lee_float32", ALWAYS_FLOAT32, as_zip=False)
    kit.add("mia_course_habits", {**complete, "pytorch101.py": replace_functions(pytorch101, COURSE_HABITS_PYTORCH101),
                                  "knn.py": replace_functions(knn, COURSE_HABITS_KNN)}, as_zip=False)
    pytorch101_mutant("nat_torch_unique", WITH_TORCH_UNIQUE)
    knn_mutant("oli_cv_on_every_fold", CV_ON_EVERY_FOLD, as_zip=False)


def expected_scores(full: float) -> dict:
    """Open intervals where a student keeps part of the points (see tests/test_a1_grading.py for
    exactly which tests each loses)."""
    partial = (0, full)
    return {"cat_partial": partial, "dan_ties_toward_larger": partial, "eve_hostile": partial,
            "fay_hangs": partial, "gus_syntax_error": partial, "hal_corrupt": 0.0, "ivy_cdist": partial,
            "jay_loop_in_no_loops": partial, "kim_no_knn": partial, "lee_float32": partial,
            "mia_course_habits": full, "nat_torch_unique": partial, "oli_cv_on_every_fold": partial}
