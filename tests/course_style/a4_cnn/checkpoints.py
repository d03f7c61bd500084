"""The two checkpoints of a4, trained with the course-style convolutional_networks.py beside this file
and saved the course's way: DeepConvNet.save's keys (reg, dtype, params, num_layers, max_pools,
batchnorm, bn_params), the parameters named as that module names them (bn_gamma1, bn_beta1...), and
the course's file names, one_minute_deepconvnet.pth and overfit_deepconvnet.pth."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def _course_module(assignment, given: Path):
    """The course-style convolutional_networks.py beside this file, imported with the given
    fully_connected_networks.py (written into ``given``) importable."""
    import importlib.util

    given.mkdir(parents=True, exist_ok=True)
    assignment.write_given_files(given)
    sys.path.insert(0, str(given))
    try:
        spec = importlib.util.spec_from_file_location("a4_course_style_convolutional_networks",
                                                      Path(__file__).with_name("convolutional_networks.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(given))
        sys.modules.pop("fully_connected_networks", None)


def checkpoints(assignment) -> dict[str, bytes]:
    import torch

    from eecs498.data import preprocess_dataset

    data = preprocess_dataset("fashion_mnist", flatten=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="eecs498-a4-course-") as tmp:
            folder = Path(tmp)
            cn = _course_module(assignment, folder / "given")
            torch.manual_seed(1)
            small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50],
                     "X_val": data["X_val"][:50], "y_val": data["y_val"][:50]}
            weight_scale, learning_rate = cn.find_overfit_parameters()
            model = cn.DeepConvNet(input_dims=small["X_train"].shape[1:], num_classes=10, num_filters=[8, 16, 32, 64],
                                   max_pools=[0, 1, 2, 3], reg=1e-5, weight_scale=weight_scale, dtype=torch.float32)
            cn.Solver(model, small, print_every=1000, num_epochs=30, batch_size=10, update_rule=cn.adam,
                      optim_config={"learning_rate": learning_rate}, verbose=False).train(return_best_params=False)
            model.save(str(folder / "overfit_deepconvnet.pth"))

            torch.manual_seed(2)
            train_val = {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")}
            solver = cn.create_convolutional_solver_instance(train_val, torch.float32, "cpu")
            solver.num_epochs = 2  # instead of the notebook's minute: about 25 s on one CPU thread
            solver.verbose = False
            solver.train()
            solver.model.save(str(folder / "one_minute_deepconvnet.pth"))
            return {name: (folder / name).read_bytes()
                    for name in ("one_minute_deepconvnet.pth", "overfit_deepconvnet.pth")}
    finally:
        torch.set_num_threads(threads)
