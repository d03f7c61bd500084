"""The checkpoints of the course-style a3 solution, trained with its modules and saved the course's
way: ``nn_best_model.pt`` by two_layer_net's ``TwoLayerNet.save`` (``self.params``) and
``best_two_layer_net.pth`` by fully_connected_networks' ``TwoLayerNet.save`` (``{"reg",
"params"}``), the course's A3 file name for the network its Solver trains."""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch


def checkpoints(assignment) -> dict[str, bytes]:
    import fully_connected_networks as fcn
    import two_layer_net as tln
    from eecs498.data import preprocess_dataset

    data = preprocess_dataset()  # the notebooks' default dataset (Fashion-MNIST offline)
    D = data["X_train"].shape[1]
    files = {}
    with tempfile.TemporaryDirectory() as folder:
        net = tln.TwoLayerNet(D, 256, 10, dtype=torch.float32, device="cpu", std=1e-2)
        net.train(data["X_train"], data["y_train"], data["X_val"], data["y_val"], learning_rate=0.5,
                  learning_rate_decay=0.95, reg=1e-5, num_iters=2000, batch_size=200)
        net.save(str(Path(folder) / "nn_best_model.pt"))

        torch.manual_seed(0)
        model = fcn.TwoLayerNet(input_dim=D, hidden_dim=256, weight_scale=1e-2, reg=1e-5,
                                dtype=torch.float32, device="cpu")
        solver = fcn.Solver(model, data, update_rule=fcn.adam, optim_config={"learning_rate": 1e-3},
                            lr_decay=0.9, num_epochs=5, batch_size=200, verbose=False, device="cpu")
        solver.train()
        model.save(str(Path(folder) / "best_two_layer_net.pth"))
        for name in ("nn_best_model.pt", "best_two_layer_net.pth"):
            files[name] = (Path(folder) / name).read_bytes()
    return files
