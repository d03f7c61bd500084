"""eecs498.solver: training loop, histories, schedules, decay, best parameters, time limit,
checkpoints; and eecs498.vis.plot_training_history / plot_lr_schedules."""
from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from eecs498.solver import SCHEDULES, Solver, lr_multiplier, sgd
from eecs498.vis import plot_lr_schedules, plot_training_history

matplotlib.use("Agg")  # headless, as in CI


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class Softmax:
    """A linear softmax classifier with a hand-written gradient: scores = X W + b."""

    def __init__(self, D, C, dtype=torch.float32, device="cpu"):
        self.params = {"W": 1e-3 * torch.randn(D, C, dtype=dtype, device=device),
                       "b": torch.zeros(C, dtype=dtype, device=device)}

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(dim=1, keepdim=True).values
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        N = X.shape[0]
        loss = -log_probs[torch.arange(N, device=X.device), y].mean()
        dscores = log_probs.exp()
        dscores[torch.arange(N, device=X.device), y] -= 1
        dscores /= N
        return loss, {"W": X.T @ dscores, "b": dscores.sum(dim=0)}


def blobs(N, D=5, C=3, dtype=torch.float32, device="cpu", seed=0):
    """N points in C well separated clusters (class c centred at 5 * e_c)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % C
    X = 0.5 * torch.randn(N, D, generator=g) + 5 * torch.eye(C, D)[y]
    return X.to(device, dtype), y.to(device)


def make_data(N_train=30, N_val=15, **kwargs):
    X, y = blobs(N_train + N_val, **kwargs)
    return {"X_train": X[:N_train], "y_train": y[:N_train], "X_val": X[N_train:], "y_val": y[N_train:]}


def test_overfits_tiny_dataset(device):
    torch.manual_seed(0)
    data = make_data(device=device)
    model = Softmax(5, 3, device=device)
    solver = Solver(model, data, optim_config={"learning_rate": 0.5}, batch_size=10, num_epochs=10,
                    verbose=False, device=device)
    solver.train()
    assert solver.check_accuracy(data["X_train"], data["y_train"]) == 1.0
    assert solver.train_acc_history[-1] == 1.0 and solver.best_val_acc == 1.0
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert solver.X_train.device.type == device.type and model.params["W"].device.type == device.type


def test_history_lengths():
    torch.manual_seed(0)
    data = make_data(N_train=50)
    solver = Solver(Softmax(5, 3), data, batch_size=20, num_epochs=3, verbose=False)
    solver.train()
    iterations = 3 * (50 // 20)
    assert len(solver.loss_history) == len(solver.lr_history) == iterations
    assert all(isinstance(v, float) for v in solver.loss_history + solver.train_acc_history)
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 3 + 1  # epoch 0 and after each
    assert solver.acc_epochs == [0.0, 1.0, 2.0, 3.0] and solver.epoch == 3

    small = Solver(Softmax(5, 3), make_data(N_train=7), batch_size=20, num_epochs=4, verbose=False)
    small.train()  # fewer examples than a batch: one iteration per epoch
    assert len(small.loss_history) == 4 and len(small.val_acc_history) == 5


def test_optim_configs_are_deep_copies():
    optim_config = {"learning_rate": 0.1, "nested": {"a": 1}}
    solver = Solver(Softmax(5, 3), make_data(), optim_config=optim_config, verbose=False)
    assert set(solver.optim_configs) == {"W", "b"}
    solver.optim_configs["W"]["nested"]["a"] = 2
    assert solver.optim_configs["b"]["nested"]["a"] == 1 and optim_config["nested"]["a"] == 1


@pytest.mark.parametrize("schedule, expected", [
    (None, [1.0, 1.0, 1.0]),
    ("constant", [1.0, 1.0, 1.0]),
    ("step", [1.0, 0.1, 0.01]),
    ("cosine", [1.0, 0.5, 0.5 * (1 + math.cos(math.pi * 99 / 100))]),
    ("linear", [1.0, 0.5, 0.01]),
    ("inverse_sqrt", [1.0, 1 / math.sqrt(51), 0.1]),
])
def test_schedule_formulas(schedule, expected):
    T = 100
    got = [lr_multiplier(schedule, t, T) for t in (0, T // 2, T - 1)]
    assert got == pytest.approx(expected, rel=1e-12)
    assert all(isinstance(m, float) for m in got)


def test_schedule_options_and_errors():
    assert lr_multiplier("step", 49, 100) == 1.0 and lr_multiplier("step", 74, 100) == pytest.approx(0.1)
    assert lr_multiplier("step", 75, 100) == pytest.approx(0.01)
    step = dict(milestones=(0.2, 0.4, 0.6), gamma=0.5)
    assert [lr_multiplier("step", t, 10, **step) for t in (1, 2, 4, 9)] == [1.0, 0.5, 0.25, 0.125]
    assert lr_multiplier(lambda t, T: 2.0 * t / T, 3, 6) == 1.0
    assert set(SCHEDULES) == {"constant", "step", "cosine", "linear", "inverse_sqrt"}
    with pytest.raises(ValueError, match="unknown lr_schedule 'exponential'.*'cosine'"):
        lr_multiplier("exponential", 0, 10)
    with pytest.raises(ValueError, match="takes no options"):
        lr_multiplier("cosine", 0, 10, gamma=0.1)
    with pytest.raises(ValueError, match="milestones and gamma"):
        lr_multiplier("step", 0, 10, step_size=3)
    with pytest.raises(ValueError, match="fractions"):
        lr_multiplier("step", 0, 10, milestones=(30,))
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        Solver(Softmax(5, 3), make_data(), lr_schedule="warmup")


def test_lr_decay_multiplies_every_epoch():
    data = make_data(N_train=30)
    solver = Solver(Softmax(5, 3), data, optim_config={"learning_rate": 0.1}, lr_decay=0.5, batch_size=10,
                    num_epochs=3, verbose=False)
    solver.train()
    assert solver.lr_history == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 3)
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.1 * 0.5 ** 3)


def test_default_learning_rate_of_the_update_rule_is_decayed():
    solver = Solver(Softmax(5, 3), make_data(N_train=30), lr_decay=0.5, batch_size=15, num_epochs=2,
                    verbose=False)  # sgd's default learning rate, 1e-2, set by sgd on its first call
    solver.train()
    assert solver.lr_history == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3])


@pytest.mark.parametrize("schedule", ["step", "cosine", "linear", "inverse_sqrt", lambda t, T: 1 + t])
def test_solver_applies_schedule_with_decay(schedule):
    data = make_data(N_train=40)
    solver = Solver(Softmax(5, 3), data, optim_config={"learning_rate": 0.2}, lr_decay=0.9, lr_schedule=schedule,
                    batch_size=10, num_epochs=3, verbose=False)
    solver.train()
    T = 12
    expected = [0.2 * 0.9 ** (t // 4) * lr_multiplier(schedule, t, T) for t in range(T)]
    assert solver.lr_history == pytest.approx(expected, rel=1e-12)
    assert solver.optim_configs["W"]["learning_rate"] == pytest.approx(0.2 * 0.9 ** 3)  # schedule not baked in


def test_schedule_kwargs_reach_the_schedule():
    solver = Solver(Softmax(5, 3), make_data(N_train=40), optim_config={"learning_rate": 1.0}, lr_schedule="step",
                    lr_schedule_kwargs={"milestones": (0.25,), "gamma": 0.5}, batch_size=10, num_epochs=2,
                    verbose=False)
    solver.train()
    assert solver.lr_history == [1.0, 1.0] + [0.5] * 6


def test_update_rule_state_is_kept_per_parameter():
    def counting(w, dw, config):
        config.setdefault("learning_rate", 0.1)
        config["steps"] = config.get("steps", 0) + 1
        return w - config["learning_rate"] * dw, config

    solver = Solver(Softmax(5, 3), make_data(N_train=30), update_rule=counting, batch_size=10, num_epochs=2,
                    verbose=False)
    solver.train()
    assert [c["steps"] for c in solver.optim_configs.values()] == [6, 6]


class Scripted:
    """Its accuracy is 1 when the counter k equals `good`, else 0; every update adds 1 to k."""

    def __init__(self, good):
        self.good = good
        self.params = {"k": torch.zeros(())}

    def loss(self, X, y=None):
        labels = X[:, 0].long()
        predicted = labels if int(self.params["k"]) == self.good else (labels + 1) % 3
        if y is None:
            return torch.nn.functional.one_hot(predicted, 3).float()
        return torch.tensor(float(self.params["k"])), {"k": torch.zeros(())}


def scripted_data(N=6):
    X = (torch.arange(N) % 3).float().unsqueeze(1)
    y = torch.arange(N) % 3
    return {"X_train": X, "y_train": y, "X_val": X, "y_val": y}


def plus_one(w, dw, config):
    return w + 1, config


@pytest.mark.parametrize("return_best_params", [True, False])
def test_best_params_restored(return_best_params):
    model = Scripted(good=2)
    solver = Solver(model, scripted_data(), update_rule=plus_one, batch_size=6, num_epochs=4, verbose=False)
    solver.train(return_best_params=return_best_params)
    assert solver.val_acc_history == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert solver.best_val_acc == 1.0 and float(solver.best_params["k"]) == 2
    assert float(model.params["k"]) == (2 if return_best_params else 4)
    if return_best_params:
        assert model.params["k"] is not solver.best_params["k"]  # a copy: training on leaves it intact


class ScriptedWithRunningStatistics(Scripted):
    """Like Scripted, with batchnorm-style running statistics that every training step changes."""

    def __init__(self, good):
        super().__init__(good)
        self.bn_params = [{"mode": "train", "running_mean": torch.zeros(2)}]

    def loss(self, X, y=None):
        if y is not None:
            self.bn_params[0]["running_mean"] = self.bn_params[0]["running_mean"] + 1
        return super().loss(X, y)


def test_best_params_come_back_with_their_running_statistics():
    """The running statistics restored are those measured with the best parameters, not the last ones."""
    model = ScriptedWithRunningStatistics(good=2)
    solver = Solver(model, scripted_data(), update_rule=plus_one, batch_size=6, num_epochs=4, verbose=False)
    solver.train()
    assert float(model.params["k"]) == 2
    assert model.bn_params[0]["running_mean"].tolist() == [2.0, 2.0]  # after 2 steps, not the last 4
    assert model.bn_params[0]["running_mean"] is not solver.best_bn_params[0]["running_mean"]


def test_best_params_kept_even_when_accuracy_stays_zero():
    model = Scripted(good=-1)
    solver = Solver(model, scripted_data(), update_rule=plus_one, batch_size=6, num_epochs=2, verbose=False)
    solver.train()
    assert solver.best_val_acc == 0.0 and float(model.params["k"]) == 0  # the first check's parameters


def test_time_limit_stops_early():
    solver = Solver(Softmax(5, 3), make_data(N_train=100), batch_size=10, num_epochs=5, verbose=False)
    solver.train(time_limit=0)
    assert len(solver.loss_history) == 1  # the first iteration always runs; the next would exceed 0 s
    assert solver.epoch == 0 and solver.acc_epochs == [0.0, 0.1]  # measured where it stopped


def test_checkpoints(tmp_path, device):
    data = make_data(N_train=30, device=device)
    model = Softmax(5, 3, device=device)
    name = tmp_path / "run"
    solver = Solver(model, data, optim_config={"learning_rate": 0.3}, batch_size=10, num_epochs=2,
                    checkpoint_name=str(name), verbose=False, device=device)
    solver.train(return_best_params=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"run_epoch_{e}.pkl" for e in range(3)]
    checkpoint = torch.load(tmp_path / "run_epoch_2.pkl", weights_only=True)  # plain data only
    assert checkpoint["epoch"] == 2 and checkpoint["update_rule"] == "sgd"
    assert checkpoint["optim_config"] == {"learning_rate": 0.3} and checkpoint["batch_size"] == 10
    for key in ("loss_history", "lr_history", "train_acc_history", "val_acc_history", "acc_epochs"):
        assert checkpoint[key] == getattr(solver, key)
    assert set(checkpoint["params"]) == {"W", "b"}
    for k, v in checkpoint["params"].items():
        assert v.device.type == "cpu" and torch.equal(v, model.params[k].cpu())
    first = torch.load(tmp_path / "run_epoch_0.pkl", weights_only=True)
    assert first["epoch"] == 0 and first["loss_history"] == [] and len(first["val_acc_history"]) == 1


def test_float64_stays_float64(device):
    data = make_data(dtype=torch.float64, device=device)
    model = Softmax(5, 3, dtype=torch.float64, device=device)
    solver = Solver(model, data, optim_config={"learning_rate": 0.5}, lr_schedule="cosine", batch_size=10,
                    num_epochs=2, verbose=False, device=device)
    solver.train()
    assert all(v.dtype == torch.float64 for v in model.params.values())
    assert all(v.dtype == torch.float64 for v in solver.best_params.values())


def test_check_accuracy_subsamples_and_batches(device):
    X, y = blobs(25, device=device)
    model = Softmax(5, 3, device=device)
    model.params["W"] = torch.eye(5, 3, device=device)  # predicts the cluster: all correct
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, verbose=False, device=device)
    assert solver.check_accuracy(X, y, batch_size=7) == 1.0
    y_wrong = y.clone()
    y_wrong[:10] = (y_wrong[:10] + 1) % 3
    assert solver.check_accuracy(X, y_wrong, batch_size=4) == pytest.approx(15 / 25)
    sampled = solver.check_accuracy(X, y_wrong, num_samples=5)
    assert sampled in {i / 5 for i in range(6)}  # measured on 5 rows
    assert solver.check_accuracy(X.cpu(), y.cpu()) == 1.0  # moved to the solver's device


def test_verbose_and_progress_output(capsys):
    torch.manual_seed(0)
    solver = Solver(Softmax(5, 3), make_data(N_train=30), batch_size=10, num_epochs=2, print_every=2)
    solver.train()
    out = capsys.readouterr().out
    assert "(Time " in out and "Iteration 1 / 6) loss:" in out and "Iteration 3 / 6)" in out
    assert "Iteration 2 / 6)" not in out  # every print_every iterations
    assert "(Epoch 0 / 2) train acc:" in out and "(Epoch 2 / 2) train acc:" in out

    quiet = Solver(Softmax(5, 3), make_data(N_train=30), batch_size=10, num_epochs=2, verbose=False, progress=True)
    quiet.train()
    captured = capsys.readouterr()
    assert captured.out == "" and "6/6" in captured.err and "loss=" in captured.err


def test_unknown_arguments_and_missing_data():
    with pytest.raises(TypeError):
        Solver(Softmax(5, 3), make_data(), learning_rate=0.1)
    with pytest.raises(KeyError, match="X_val"):
        Solver(Softmax(5, 3), {k: v for k, v in make_data().items() if k != "X_val"})
    assert Solver.sgd is sgd


def test_sgd():
    w, dw = torch.ones(2, 3, dtype=torch.float64), torch.full((2, 3), 2.0, dtype=torch.float64)
    next_w, config = sgd(w, dw)
    assert config == {"learning_rate": 1e-2} and torch.allclose(next_w, torch.full((2, 3), 0.98, dtype=torch.float64))
    assert next_w.dtype == torch.float64


def test_plot_training_history():
    torch.manual_seed(0)
    runs = {}
    for name, lr in (("lr 0.1", 0.1), ("lr 0.5", 0.5)):
        runs[name] = Solver(Softmax(5, 3), make_data(N_train=30), optim_config={"learning_rate": lr}, batch_size=10,
                            num_epochs=3, verbose=False)
        runs[name].train()
    fig = plot_training_history(runs, smooth=3, title="compare")
    assert len(fig.axes) == 3
    loss_ax, train_ax, val_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_legend().get_lines()] == ["lr 0.1", "lr 0.5"]
    assert len(loss_ax.lines) == 4  # raw and smoothed per run
    assert len(train_ax.lines) == len(val_ax.lines) == 2
    assert train_ax.lines[1].get_xdata().tolist() == [0.0, 1.0, 2.0, 3.0]
    assert val_ax.lines[0].get_ydata().tolist() == runs["lr 0.1"].val_acc_history
    assert fig._suptitle.get_text() == "compare"

    single = plot_training_history(runs["lr 0.5"])
    assert len(single.axes) == 3 and single.axes[0].get_legend() is None
    assert single.axes[0].lines[0].get_ydata().tolist() == runs["lr 0.5"].loss_history
    stats = {"loss_history": [3.0, 2.0, 1.0], "train_acc_history": [0.2, 0.4], "val_acc_history": [0.1, 0.3]}
    from_dict = plot_training_history(stats)  # nn_train's stats
    assert from_dict.axes[2].lines[0].get_xdata().tolist() == [0, 1]


def test_plot_lr_schedules():
    ax = plot_lr_schedules(num_iterations=20, learning_rate=0.1)
    assert [line.get_label() for line in ax.lines] == list(SCHEDULES)
    cosine = ax.lines[SCHEDULES.index("cosine")].get_ydata()
    assert cosine[0] == pytest.approx(0.1) and cosine[10] == pytest.approx(0.05)
