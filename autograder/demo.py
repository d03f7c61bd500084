"""``eecs498 demo``: the whole flow on embedded defaults.

For each assignment with a sample class (a1_knn, a2_linear, a3_mlp, a4_cnn): releases it, builds a small
class of sample submissions from the source and the release — complete, untouched, partial, buggy,
hostile, hanging, broken, corrupt — grades them in parallel in the sandbox, records them in an
nbgrader gradebook and prints the table.
"""
from __future__ import annotations

import ast
import shutil
import textwrap
import zipfile
from pathlib import Path
from typing import Callable

import click

from autograder.release import release_assignment
from eecs498.assignment import Assignment, find_assignment

# Replacement functions (whole definitions) spliced into copies of the source solutions.
BUGGY_KNN = {
    "predict_labels": '''
def predict_labels(dists, y_train, k=1):
    """Majority vote, but ties go to the LARGEST label (the bug)."""
    nearest = dists.topk(k, dim=0, largest=False).indices        # (k, num_test)
    votes = y_train[nearest]                                       # (k, num_test)
    num_classes = int(y_train.max()) + 1
    counts = torch.zeros(num_classes, votes.shape[1], dtype=torch.int64, device=dists.device)
    counts.scatter_add_(0, votes, torch.ones_like(votes))
    flipped = counts.flip(0).argmax(dim=0)                         # first max from the top
    return num_classes - 1 - flipped
''',
    "compute_distances_no_loops": '''
def compute_distances_no_loops(x_train, x_test):
    """Correct values, but with a Python loop where none is allowed."""
    train = x_train.flatten(1)
    test = x_test.flatten(1)
    dists = x_train.new_zeros(train.shape[0], test.shape[0])
    for j in range(test.shape[0]):
        dists[:, j] = ((train - test[j]) ** 2).sum(dim=1)
    return dists
''',
}

HOSTILE_KNN = {
    "compute_distances_two_loops": '''
def compute_distances_two_loops(x_train, x_test):
    """Try to read the hidden references and tests instead of computing anything."""
    import glob
    stolen = []
    for pattern in ("/work/**/references/*.ref", "/**/autograder/suites/**/*.py", "../**/*.ref"):
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

HANGING_KNN = {
    "compute_distances_one_loop": '''
def compute_distances_one_loop(x_train, x_test):
    """Never returns."""
    while True:
        pass
''',
}


def replace_functions(source: str, replacements: dict[str, str]) -> str:
    """Swap whole top-level function definitions of ``source`` for the given ones."""
    lines = source.splitlines()
    spans = {node.name: (node.lineno - 1 - len(node.decorator_list), node.end_lineno)
             for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    for name in sorted(replacements, key=lambda n: spans[n][0], reverse=True):
        start, end = spans[name]
        lines[start:end] = textwrap.dedent(replacements[name]).strip().splitlines()
    return "\n".join(lines) + "\n"


def write_student(out: Path, assignment_id: str, name: str, files: dict[str, str | bytes],
                  as_zip: bool = True) -> None:
    """One sample submission: ``<name>_<assignment>.zip``, or a ``<name>/`` folder."""
    if as_zip:
        with zipfile.ZipFile(out / f"{name}_{assignment_id}.zip", "w") as archive:
            for filename, data in files.items():
                archive.writestr(filename, data)
        return
    (out / name).mkdir()
    for filename, data in files.items():
        (out / name / filename).write_bytes(data if isinstance(data, bytes) else data.encode())


def build_a1_class(assignment: Assignment, release_dir: Path, out: Path) -> None:
    """Complete, untouched, partial, buggy, hostile, hanging, broken and corrupt a1 submissions."""
    source_dir = assignment.root
    knn = (source_dir / "knn.py").read_text()
    notebooks = {name: (release_dir / name).read_bytes() for name in assignment.notebooks}

    def student(name: str, files: dict[str, str | bytes], as_zip: bool = True) -> None:
        write_student(out, assignment.id, name, {**notebooks, **files}, as_zip)

    complete = {"pytorch101.py": (source_dir / "pytorch101.py").read_text(), "knn.py": knn}
    untouched = {"pytorch101.py": (release_dir / "pytorch101.py").read_text(),
                 "knn.py": (release_dir / "knn.py").read_text()}
    student("ada_complete", complete)
    student("ben_untouched", untouched, as_zip=False)
    student("cat_partial", {"pytorch101.py": complete["pytorch101.py"], "knn.py": untouched["knn.py"]})
    student("dan_buggy", {**complete, "knn.py": replace_functions(knn, BUGGY_KNN)})
    student("eve_hostile", {**complete, "knn.py": replace_functions(knn, HOSTILE_KNN)})
    student("fay_hangs", {**complete, "knn.py": replace_functions(knn, HANGING_KNN)})
    student("gus_syntax_error", {**complete, "knn.py": knn.replace("def ", "def (", 1)})
    (out / f"hal_corrupt_{assignment.id}.zip").write_bytes(b"PK\x03\x04 not really a zip file")


class _Pwned:
    """Pickles into a call of ``os.system``: what a hostile checkpoint holds."""

    def __reduce__(self):
        import os
        return (os.system, ("echo pwned > /tmp/eecs498-demo-pwned",))


def _checkpoint(value) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _source_module(path: Path, name: str):
    """A source solution module imported here (trusted code)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_module_with_given(assignment: Assignment, filename: str, name: str):
    """A source solution module of ``assignment`` imported here (trusted code), its ``given`` files
    (e.g. a3's ``fully_connected_networks.py`` for a4) importable while it loads."""
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="eecs498-given-") as tmp:
        assignment.write_given_files(Path(tmp))
        sys.path.insert(0, tmp)
        try:
            return _source_module(assignment.root / filename, name)
        finally:
            sys.path.remove(tmp)
            for given in assignment.given_files():
                sys.modules.pop(Path(given).stem, None)


def trained_a2_checkpoints(assignment: Assignment, dataset: str | None = None) -> dict[str, bytes]:
    """svm_best_model.pt and softmax_best_model.pt trained with the source solutions (trusted code,
    imported here) on ``dataset`` (the default dataset when None), with settings from the
    solutions' search lists."""
    import torch

    from eecs498.data import preprocess_dataset

    module = _source_module(assignment.root / "linear_classifier.py", "a2_linear_source")
    data = preprocess_dataset(dataset, bias_trick=True)
    files = {}
    for filename, classifier, lr, reg in (("svm_best_model.pt", module.LinearSVM, 1e-2, 1e-3),
                                          ("softmax_best_model.pt", module.Softmax, 1e-1, 1e-3)):
        torch.manual_seed(0)
        model = classifier()
        model.train(data["X_train"], data["y_train"], learning_rate=lr, reg=reg, num_iters=1500, batch_size=200)
        files[filename] = _checkpoint({"W": model.W.detach().cpu()})
    return files


def build_a2_class(assignment: Assignment, release_dir: Path, out: Path) -> None:
    """Complete, untouched, forgot-the-regularization-gradient, hostile-checkpoint and
    no-checkpoint a2 submissions."""
    module = (assignment.root / "linear_classifier.py").read_text()
    notebook = {"linear_classifier.ipynb": (release_dir / "linear_classifier.ipynb").read_bytes()}
    models = trained_a2_checkpoints(assignment)

    def student(name: str, files: dict[str, str | bytes], as_zip: bool = True) -> None:
        write_student(out, assignment.id, name, {**notebook, **files}, as_zip)

    no_reg_gradient = module.replace("dW = dW + 2 * reg * W", "dW = dW", 2)  # the two SVM losses
    student("ada_complete", {"linear_classifier.py": module, **models})
    student("ben_untouched", {"linear_classifier.py": (release_dir / "linear_classifier.py").read_text()},
            as_zip=False)
    student("cat_no_reg_gradient", {"linear_classifier.py": no_reg_gradient, **models})
    student("dan_no_checkpoints", {"linear_classifier.py": module})
    student("eve_hostile_checkpoint", {"linear_classifier.py": module, **models,
                                       "svm_best_model.pt": _checkpoint({"W": _Pwned()})})


# --- a3_mlp -------------------------------------------------------------------------------------

ADAM_WITHOUT_BIAS_CORRECTION = {
    "adam": '''
def adam(w, dw, config=None):
    """Adam with the moments right, but no bias correction (the bug)."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", torch.zeros_like(w))
    config.setdefault("v", torch.zeros_like(w))
    config.setdefault("t", 0)
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    next_w = w - config["learning_rate"] * config["m"] / (torch.sqrt(config["v"]) + config["epsilon"])
    return next_w, config
''',
}

DROPOUT_WITHOUT_RESCALE = {
    "Dropout.forward": '''
@staticmethod
def forward(x, dropout_param):
    """Drops units with probability p, but forgets to scale the kept ones by 1 / (1 - p) (the bug)."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param and dropout_param["seed"] is not None:
        torch.manual_seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = (torch.rand_like(x) > p).to(x.dtype)
        out = x * mask
    elif mode == "test":
        out = x
    else:
        raise ValueError(f"dropout mode must be 'train' or 'test', got {mode!r}")
    return out, (dropout_param, mask)
''',
}

LINEAR_BACKWARD_WITHOUT_RESHAPE = {
    "Linear.backward": '''
@staticmethod
def backward(dout, cache):
    """Right dw and db, but dx keeps the flattened (N, D) shape instead of the shape of x (the bug)."""
    x, w, b = cache
    rows = x.reshape(x.shape[0], -1)
    return dout.mm(w.t()), rows.t().mm(dout), dout.sum(dim=0)
''',
}

HOSTILE_LAYERS = {
    "ReLU.forward": '''
@staticmethod
def forward(x):
    """Tries to read the hidden references and tests first; computes the ReLU of what it found."""
    import glob
    stolen = []
    for pattern in ("/work/*/autograder/references/*.ref", "/work/*/autograder/suites/*/*.py", "../*.ref",
                    "../../*/autograder/references/*.ref", "/tmp/*/references/*.ref"):
        for path in glob.glob(pattern)[:3]:
            try:
                stolen.append(open(path, "rb").read(64))
            except OSError:
                pass
    return x.clamp(min=0) * (1 + len(stolen)), x
''',
}


def replace_methods(source: str, replacements: dict[str, str]) -> str:
    """Swap whole method definitions (``"Class.method"``, decorators included) of ``source`` for the
    given ones, written at the left margin; they are indented like the methods they replace."""
    lines = source.splitlines()
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    first = min([item.lineno, *(d.lineno for d in item.decorator_list)])
                    spans[f"{node.name}.{item.name}"] = (first - 1, item.end_lineno, item.col_offset)
    for name in sorted(replacements, key=lambda n: spans[n][0], reverse=True):
        start, end, indent = spans[name]
        text = textwrap.indent(textwrap.dedent(replacements[name]).strip(), " " * indent)
        lines[start:end] = text.splitlines()
    return "\n".join(lines) + "\n"


def trained_a3_checkpoints(assignment: Assignment, dataset: str | None = None) -> dict[str, bytes]:
    """nn_best_model.pt and fc_best_model.pt trained quickly with the source solutions (trusted code,
    imported here) on ``dataset`` (the default dataset when None): a two-layer net trained by
    ``nn_train`` and a fully-connected net trained by the ``Solver``, in the formats of their
    ``save`` methods."""
    import torch

    from eecs498.data import preprocess_dataset
    from eecs498.solver import Solver

    two_layer = _source_module(assignment.root / "two_layer_net.py", "a3_two_layer_net_source")
    fc = _source_module(assignment.root / "fully_connected_networks.py", "a3_fully_connected_networks_source")
    data = preprocess_dataset(dataset)
    D = data["X_train"].shape[1]
    torch.manual_seed(0)
    net = two_layer.TwoLayerNet(D, 200, 10, std=1e-2)
    net.train(data["X_train"], data["y_train"], data["X_val"], data["y_val"], num_iters=2000, batch_size=200,
              learning_rate=0.5, learning_rate_decay=0.95, reg=1e-5)
    files = {"nn_best_model.pt": _checkpoint({k: v.detach().cpu() for k, v in net.params.items()})}
    torch.manual_seed(0)
    model = fc.FullyConnectedNet([256, 128], input_dim=D, weight_scale=5e-2, reg=1e-5)
    solver = Solver(model, data, update_rule=fc.sgd_momentum, optim_config={"learning_rate": 5e-2},
                    lr_schedule="cosine", batch_size=128, num_epochs=4, verbose=False)
    solver.train()
    files["fc_best_model.pt"] = _checkpoint({
        "params": {k: v.detach().cpu() for k, v in model.params.items()}, "hidden_dims": [256, 128],
        "activation": "relu", "input_dim": D, "num_classes": 10})
    return files


def build_a3_class(assignment: Assignment, release_dir: Path, out: Path) -> None:
    """Complete, untouched, Adam-without-bias-correction, dropout-without-rescale and hostile a3
    submissions."""
    two_layer = (assignment.root / "two_layer_net.py").read_text()
    fc = (assignment.root / "fully_connected_networks.py").read_text()
    notebooks = {name: (release_dir / name).read_bytes() for name in assignment.notebooks
                 if (release_dir / name).is_file()}
    models = trained_a3_checkpoints(assignment)

    def student(name: str, files: dict[str, str | bytes], as_zip: bool = True) -> None:
        write_student(out, assignment.id, name, {**notebooks, **files}, as_zip)

    complete = {"two_layer_net.py": two_layer, "fully_connected_networks.py": fc, **models}
    released = {name: (release_dir / name).read_text() for name in ("two_layer_net.py", "fully_connected_networks.py")}
    student("ada_complete", complete)
    student("ben_untouched", released, as_zip=False)
    student("cat_adam_no_bias_correction",
            {**complete, "fully_connected_networks.py": replace_functions(fc, ADAM_WITHOUT_BIAS_CORRECTION)})
    student("dan_dropout_no_rescale",
            {**complete, "fully_connected_networks.py": replace_methods(fc, DROPOUT_WITHOUT_RESCALE)})
    student("eve_hostile", {**complete, "fully_connected_networks.py": replace_methods(fc, HOSTILE_LAYERS),
                            "fc_best_model.pt": _checkpoint({"params": {"W1": _Pwned()}})})

# --- a4_cnn -------------------------------------------------------------------------------------

SPATIAL_BATCHNORM_OVER_PIXELS = {
    "SpatialBatchNorm.forward": '''
@staticmethod
def forward(x, gamma, beta, bn_param):
    """Normalizes each image's channels over their own pixels only, axes (H, W) (the bug: that is
    instance normalization; batch normalization also takes the N images)."""
    x_hat, norm_cache = _normalize_forward(x, (2, 3), bn_param.get("eps", 1e-5))
    out = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)
    return out, (x_hat, gamma, norm_cache)
''',
    "SpatialBatchNorm.backward": '''
@staticmethod
def backward(dout, cache):
    """The matching backward pass of the same wrong normalization."""
    x_hat, gamma, norm_cache = cache
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
    return _normalize_backward(dout * _per_channel(gamma, dout), norm_cache), dgamma, dbeta
''',
}

CONV_THROUGH_FAST_LAYER = {
    "Conv.forward": '''
@staticmethod
def forward(x, w, b, conv_param):
    """Right values, from the given FastConv (torch's conv2d) instead of the student's own loops."""
    out, _ = FastConv.forward(x, w, b, conv_param)
    return out, (x, w, b, conv_param)
''',
}

HOSTILE_BLOCK = {
    "ResidualBlock.forward": '''
def forward(self, x):
    """Tries to read the hidden references and to write outside its folder first."""
    import glob
    for pattern in ("/work/*/autograder/references/*.ref", "../*.ref", "/tmp/*/references/*.ref"):
        for path in glob.glob(pattern)[:3]:
            try:
                open(path, "rb").read(64)
            except OSError:
                pass
    try:
        open("/tmp/eecs498-demo-block", "w").write("escaped")
    except OSError:
        pass
    return self.block(x) + self.shortcut(x)
''',
}


def trained_a4_checkpoints(assignment: Assignment, dataset: str | None = None) -> dict[str, bytes]:
    """one_minute_deepconvnet.pt and overfit_deepconvnet.pt trained with the source solutions (trusted
    code, imported here) on ``dataset`` (the default dataset when None), in ``DeepConvNet.save``'s
    format: a batchnorm DeepConvNet trained for two epochs (about 25 s on one CPU thread for
    Fashion-MNIST, instead of the notebook's 60 s budget), and the find_overfit_parameters network
    trained on the first 50 training images (its final parameters)."""
    import tempfile

    import torch

    from eecs498.data import preprocess_dataset
    from eecs498.solver import Solver

    module = source_module_with_given(assignment, "convolutional_networks.py", "a4_convolutional_networks_source")
    with tempfile.TemporaryDirectory(prefix="eecs498-a4-") as tmp:
        folder = Path(tmp)
        data = preprocess_dataset(dataset, flatten=False)
        train_val = {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")}
        input_dims = tuple(data["X_train"].shape[1:])
        files = {}
        torch.manual_seed(0)
        model = module.DeepConvNet(input_dims=input_dims, num_filters=[8, 16, 32], max_pools=[0, 1, 2],
                                   batchnorm=True, weight_scale="kaiming", reg=1e-5)
        Solver(model, train_val, update_rule=module.adam, optim_config={"learning_rate": 2e-3}, batch_size=64,
               num_epochs=2, lr_decay=0.5, num_train_samples=1000, num_val_samples=2000, verbose=False).train()
        model.save(folder / "one_minute_deepconvnet.pt")
        weight_scale, learning_rate = module.find_overfit_parameters()
        small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50], "X_val": data["X_val"][:50],
                 "y_val": data["y_val"][:50]}
        torch.manual_seed(0)
        model = module.DeepConvNet(input_dims=input_dims, num_filters=[8, 16, 32, 64], max_pools=[0, 1, 2, 3],
                                   reg=1e-5, weight_scale=weight_scale)
        Solver(model, small, update_rule=module.adam, optim_config={"learning_rate": learning_rate}, batch_size=10,
               num_epochs=30, verbose=False).train(return_best_params=False)
        model.save(folder / "overfit_deepconvnet.pt")
        for name in ("one_minute_deepconvnet.pt", "overfit_deepconvnet.pt"):
            files[name] = (folder / name).read_bytes()
    return files


def build_a4_class(assignment: Assignment, release_dir: Path, out: Path) -> None:
    """Complete, untouched, spatial-batchnorm-over-the-wrong-axes, convolution-through-the-fast-layer
    and hostile a4 submissions."""
    conv = (assignment.root / "convolutional_networks.py").read_text()
    nn_module = (assignment.root / "pytorch_autograd_and_nn.py").read_text()
    notebooks = {name: (release_dir / name).read_bytes() for name in assignment.notebooks
                 if (release_dir / name).is_file()}
    models = trained_a4_checkpoints(assignment)

    def student(name: str, files: dict[str, str | bytes], as_zip: bool = True) -> None:
        write_student(out, assignment.id, name, {**notebooks, **files}, as_zip)

    complete = {"convolutional_networks.py": conv, "pytorch_autograd_and_nn.py": nn_module, **models}
    released = {name: (release_dir / name).read_text() for name in assignment.modules}
    student("ada_complete", complete)
    student("ben_untouched", released, as_zip=False)
    student("cat_spatial_batchnorm_wrong_axes",
            {**complete, "convolutional_networks.py": replace_methods(conv, SPATIAL_BATCHNORM_OVER_PIXELS)})
    student("dan_conv_through_fast_layer",
            {**complete, "convolutional_networks.py": replace_methods(conv, CONV_THROUGH_FAST_LAYER)})
    student("eve_hostile", {**complete, "pytorch_autograd_and_nn.py": replace_methods(nn_module, HOSTILE_BLOCK),
                            "overfit_deepconvnet.pt": _checkpoint({"params": {"W1": _Pwned()}})})


SAMPLE_CLASSES: dict[str, Callable[[Assignment, Path, Path], None]] = {
    "a1_knn": build_a1_class, "a2_linear": build_a2_class,
    "a3_mlp": build_a3_class, "a4_cnn": build_a4_class}


def build_sample_class(assignment: Assignment, release_dir: Path, out: Path) -> Path:
    """Write the sample submissions of ``assignment`` (zips and folders) into ``out``; return it."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    SAMPLE_CLASSES[assignment.id](assignment, release_dir, out)
    return out


def run_demo(out: Path, jobs: int | None = None, assignments: tuple[str, ...] | None = None) -> None:
    """For each assignment: release, build the sample class, grade it, print the table and paths.

    Everything for one assignment goes to ``out/<assignment>/`` (release, submissions, grades).
    """
    from autograder.grading import grade_and_record
    from autograder.reports import summary_table

    for assignment_id in assignments or tuple(SAMPLE_CLASSES):
        assignment = find_assignment(assignment_id)
        folder = out / assignment.id
        click.echo(f"\n== {assignment.title} ==")
        release_dir = release_assignment(assignment, folder / "release")
        click.echo(f"1. released {assignment.id} to {release_dir} (verified: no solution text, stubs raise, "
                   "modules import)")
        submissions = build_sample_class(assignment, release_dir, folder / "submissions")
        click.echo(f"2. built {len(list(submissions.iterdir()))} sample submissions in {submissions}")
        click.echo("3. grading them in the sandbox ...")
        grades = grade_and_record(assignment, submissions, folder / "grades", jobs=jobs, force=True)
        click.echo(summary_table(grades))
        isolation = sorted({g.isolation for g in grades if g.isolation})
        click.echo(f"\nsandbox:   {', '.join(isolation) or 'n/a'}")
        click.echo(f"grades:    {folder / 'grades' / 'grades.csv'}")
        click.echo(f"feedback:  {folder / 'grades'}/<student>/feedback.html (and results.json for Gradescope)")
        click.echo(f"gradebook: {folder / 'grades' / 'nbgrader'} (nbgrader formgrader for the written answers)")
