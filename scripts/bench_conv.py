"""Convolution speed ladder: naive loops, im2col (unfold + one matmul), and torch's F.conv2d.

Times the forward pass and the forward+backward pass of the reference solutions in
``assignments/a4_cnn/convolutional_networks.py`` (``Conv.forward``/``backward``, the naive layer;
``Conv.forward_im2col``/``backward_im2col``) against ``torch.nn.functional.conv2d`` with autograd
(MKL-DNN on the CPU, cuDNN on a GPU) on the same float32 inputs, and prints the times and the
ratios to ``F.conv2d``. On the CPU, and on CUDA too when a GPU is available. Ends with the issue's
verdict: the reference im2col forward should be within 3x of ``F.conv2d`` on the CPU.

    .venv/bin/python scripts/bench_conv.py                # default threads, CPU (+ CUDA if present)
    .venv/bin/python scripts/bench_conv.py --threads 1    # one CPU thread (steadier on a busy machine)

Timing: ``time.perf_counter`` around each call (with ``torch.cuda.synchronize`` on a GPU), after
warm-up calls, the implementations interleaved round by round; the best (minimum) of ``--repeats``
runs is reported, the median beside it. Not a test: the numbers depend on the machine and on what
else runs on it (on a shared machine, run it a few times, or with ``--threads 1``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "assignments" / "a3_mlp"), str(ROOT / "assignments" / "a4_cnn"), str(ROOT)]

import convolutional_networks as cn  # noqa: E402  (after the path set-up)

# (name, N, C, H=W, F, K, stride, pad)
CASES = [
    ("course check: 100x3x31x31, 25 filters 3x3, stride 2", 100, 3, 31, 25, 3, 2, 1),
    ("DeepConvNet layer: 64x16x14x14, 32 filters 3x3", 64, 16, 14, 32, 3, 1, 1),
    ("DeepConvNet layer: 64x32x7x7, 64 filters 3x3", 64, 32, 7, 64, 3, 1, 1),
    ("ThreeLayerConvNet conv: 64x3x32x32, 32 filters 7x7", 64, 3, 32, 32, 7, 1, 3),
]
VERDICT_RATIO = 3.0


def timed_rounds(fns: dict, device: torch.device, warmup: int, repeats: int, slow: set) -> dict:
    """name -> (best, median) seconds of each ``fns[name]()``.

    The functions are timed in interleaved rounds (one call of each per round), so that a burst of
    load from other processes hits all of them alike rather than one; ``slow`` ones (the naive
    layer) take part in the first third of the rounds only.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for name, fn in fns.items():
        for _ in range(1 if name in slow else warmup):
            fn()
    sync()
    times: dict = {name: [] for name in fns}
    for round_ in range(repeats):
        for name, fn in fns.items():
            if name in slow and round_ >= max(1, repeats // 3):
                continue
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def implementations(x, w, b, conv_param, dout):
    """name -> (forward, forward + backward) callables on the same inputs."""
    stride, pad = conv_param["stride"], conv_param["pad"]

    def naive_both():
        _, cache = cn.Conv.forward(x, w, b, conv_param)
        cn.Conv.backward(dout, cache)

    def im2col_both():
        _, cache = cn.Conv.forward_im2col(x, w, b, conv_param)
        cn.Conv.backward_im2col(dout, cache)

    leaves = [t.detach().clone().requires_grad_(True) for t in (x, w, b)]

    def torch_forward():
        with torch.no_grad():
            F.conv2d(x, w, b, stride=stride, padding=pad)

    def torch_both():
        out = F.conv2d(*leaves, stride=stride, padding=pad)
        torch.autograd.grad(out, leaves, dout)

    return {
        "F.conv2d": (torch_forward, torch_both),
        "im2col": (lambda: cn.Conv.forward_im2col(x, w, b, conv_param), im2col_both),
        "naive": (lambda: cn.Conv.forward(x, w, b, conv_param), naive_both),
    }


def bench_device(device: torch.device, warmup: int, repeats: int) -> list[tuple[str, float]]:
    """Print the table for one device; return (case, im2col forward / conv2d forward) pairs."""
    print(f"\n== {device.type.upper()}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
             else f" ({torch.get_num_threads()} thread(s))")
          + f", float32, best of {repeats} (median) ==")
    ratios = []
    for name, N, C, H, num_filters, K, stride, pad in CASES:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(N, C, H, H, generator=generator).to(device)
        w = (0.1 * torch.randn(num_filters, C, K, K, generator=generator)).to(device)
        b = torch.randn(num_filters, generator=generator).to(device)
        conv_param = {"stride": stride, "pad": pad}
        out, _ = cn.Conv.forward_im2col(x, w, b, conv_param)
        dout = torch.randn(out.shape, generator=generator).to(device)
        reference = F.conv2d(x, w, b, stride=stride, padding=pad)
        error = max((cn.Conv.forward(x, w, b, conv_param)[0] - reference).abs().max().item(),
                    (out - reference).abs().max().item())
        print(f"\n{name}  (output {tuple(out.shape)}; max |diff| from F.conv2d {error:.1e})")
        print(f"  {'':10s} {'forward ms':>20s} {'x F.conv2d':>11s}   {'forward+backward ms':>20s} {'x F.conv2d':>11s}")
        impls = implementations(x, w, b, conv_param, dout)
        forward = timed_rounds({k: v[0] for k, v in impls.items()}, device, warmup, repeats, {"naive"})
        both = timed_rounds({k: v[1] for k, v in impls.items()}, device, warmup, repeats, {"naive"})
        results = {impl: (forward[impl], both[impl]) for impl in impls}
        base_f, base_b = results["F.conv2d"][0][0], results["F.conv2d"][1][0]
        for impl, ((f_best, f_med), (b_best, b_med)) in results.items():
            print(f"  {impl:10s} {f_best * 1e3:9.2f} ({f_med * 1e3:8.2f}) {f_best / base_f:10.1f}x"
                  f"   {b_best * 1e3:9.2f} ({b_med * 1e3:8.2f}) {b_best / base_b:10.1f}x")
        ratios.append((name, results["im2col"][0][0] / base_f))
    return ratios


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cpu-only", action="store_true", help="skip CUDA even when a GPU is present")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}; CPU threads {torch.get_num_threads()}; "
          f"CUDA {'available' if torch.cuda.is_available() else 'not available'}")
    cpu_ratios = bench_device(torch.device("cpu"), args.warmup, args.repeats)
    if torch.cuda.is_available() and not args.cpu_only:
        bench_device(torch.device("cuda"), args.warmup, args.repeats)

    print(f"\nVerdict (CPU): the reference im2col forward should be within {VERDICT_RATIO:g}x of F.conv2d")
    for name, ratio in cpu_ratios:
        print(f"  {'within' if ratio <= VERDICT_RATIO else 'NOT within':10s} {ratio:5.1f}x  {name}")
    within = sum(ratio <= VERDICT_RATIO for _, ratio in cpu_ratios)
    print(f"  {within} of {len(cpu_ratios)} cases within {VERDICT_RATIO:g}x")


if __name__ == "__main__":
    main()
