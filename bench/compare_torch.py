"""Times PyTorch on bench/optim_step's workloads and prints descent/PyTorch ratios.

Runs ./build/bench/optim_step and the same optimizer steps in PyTorch in one
session, so both see the same machine state. Use any PyTorch:
    /opt/torchvenv/bin/python bench/compare_torch.py        # current 2.x (pip)
    /usr/bin/python3 bench/compare_torch.py                 # 1.13 (Debian)
Options: --repeats N (default 9), --filter TEXT, --binary PATH.
"""
import argparse
import statistics
import subprocess
import time

import torch


def workloads():
    return {
        "a:1x16M": [(1 << 24,)],
        "b:200-tensors": [s for _ in range(100) for s in ((400, 400), (768,))],
        "c:2000x100": [(100,)] * 2000,
    }


OPTIMIZERS = {
    "SGD(momentum)": lambda p, **kw: torch.optim.SGD(p, lr=1e-3, momentum=0.9, **kw),
    "Adam": lambda p, **kw: torch.optim.Adam(p, **kw),
    "AdamW": lambda p, **kw: torch.optim.AdamW(p, **kw),
    "Adadelta": lambda p, **kw: torch.optim.Adadelta(p, **kw),
    "Adagrad": lambda p, **kw: torch.optim.Adagrad(p, **kw),
    "Adamax": lambda p, **kw: torch.optim.Adamax(p, **kw),
    "ASGD": lambda p, **kw: torch.optim.ASGD(p, **kw),
    "NAdam": lambda p, **kw: torch.optim.NAdam(p, **kw),
    "RAdam": lambda p, **kw: torch.optim.RAdam(p, **kw),
    "RMSprop": lambda p, **kw: torch.optim.RMSprop(p, **kw),
    "RMSprop(c,m)": lambda p, **kw: torch.optim.RMSprop(p, momentum=0.9, centered=True, **kw),
    "Rprop": lambda p, **kw: torch.optim.Rprop(p, **kw),
}


# bench/optim_step's sparse workload: a 1M x 64 float32 table, one random row
# in each block of 100 touched per step, through a coalesced sparse grad.
SPARSE_WORKLOAD = "s:1Mx64@1%"
SPARSE_OPTIMIZERS = {
    "SparseAdam": lambda p: torch.optim.SparseAdam(p),
    "Adagrad": lambda p: torch.optim.Adagrad(p, foreach=False),
}


def time_torch_sparse(opt_name, repeats):
    rows, width, per = 1_000_000, 64, 100
    gen = torch.Generator().manual_seed(7)
    table = torch.randn(rows, width, generator=gen)
    touched = torch.arange(0, rows, per) + (torch.rand(rows // per, generator=gen, dtype=torch.float64) * per).long()
    values = torch.randn(len(touched), width, generator=gen)
    table.grad = torch.sparse_coo_tensor(touched.unsqueeze(0), values, (rows, width), check_invariants=True).coalesce()
    opt = SPARSE_OPTIMIZERS[opt_name]([table])
    for _ in range(2):
        opt.step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def impl_kwargs(impl):
    if impl == "foreach":
        return {"foreach": True}
    if impl == "fused":
        return {"fused": True}
    return {"foreach": False}


def time_torch(opt_name, impl, shapes, repeats):
    gen = torch.Generator().manual_seed(7)
    params = []
    for s in shapes:
        p = torch.randn(s, generator=gen)
        p.grad = torch.randn(s, generator=gen)
        params.append(p)
    try:
        opt = OPTIMIZERS[opt_name](params, **impl_kwargs(impl))
        opt.step()
    except (RuntimeError, TypeError, ValueError, AttributeError):
        return None  # this PyTorch lacks the implementation (e.g. fused Adamax, or fused on CPU in 1.13)
    opt.step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_descent(binary, repeats, filt):
    out = subprocess.run([binary, str(repeats), filt], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 9 or parts[0] == "optimizer":
            continue
        name, impl, workload, threads, ms = parts[0], parts[1], parts[2], int(parts[3]), float(parts[4])
        rows[(name, impl, workload, threads)] = (ms / 1e3, line)
    return out, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--filter", default="")
    ap.add_argument("--binary", default="./build/bench/optim_step")
    args = ap.parse_args()
    text, ours = run_descent(args.binary, args.repeats, args.filter)
    print(text)
    print(f"PyTorch {torch.__version__}: median step time (ms) and descent speed-up (torch time / descent time)")
    print(f"{'optimizer':14} {'torch impl':10} {'workload':14} {'thr':>3} {'torch ms':>10} "
          f"{'vs fwd loop':>11} {'vs default':>11} {'vs foreach':>11} {'vs fused':>11}")
    for threads in sorted({k[3] for k in ours}):
        torch.set_num_threads(threads)
        for wname, shapes in workloads().items():
            for opt_name in OPTIMIZERS:
                for impl in ("forloop", "foreach", "fused"):
                    label = f"{opt_name}/{impl}/{wname}"
                    if args.filter and args.filter not in label:
                        continue
                    t = time_torch(opt_name, impl, shapes, args.repeats)
                    ratios = []
                    for our_impl in ("forloop", "default", "foreach", "fused"):
                        mine = ours.get((opt_name, our_impl, wname, threads))
                        ratios.append(f"{t / mine[0]:10.2f}x" if t and mine else f"{'-':>11}")
                    shown = f"{t * 1e3:10.3f}" if t else f"{'n/a':>10}"
                    print(f"{opt_name:14} {impl:10} {wname:14} {threads:3d} {shown} {' '.join(ratios)}", flush=True)
    print(f"\nPyTorch {torch.__version__} on {SPARSE_WORKLOAD}: median step time (ms) and descent speed-up")
    print(f"{'optimizer':14} {'thr':>3} {'torch ms':>10} {'vs default':>11} {'vs forloop':>11}")
    for threads in sorted({k[3] for k in ours}):
        torch.set_num_threads(threads)
        for opt_name in SPARSE_OPTIMIZERS:
            if args.filter and args.filter not in f"{opt_name}/default/{SPARSE_WORKLOAD}":
                continue
            t = time_torch_sparse(opt_name, args.repeats)
            ratios = []
            for our_impl in ("default", "forloop"):
                mine = ours.get((opt_name, our_impl, SPARSE_WORKLOAD, threads))
                ratios.append(f"{t / mine[0]:10.2f}x" if mine else f"{'-':>11}")
            print(f"{opt_name:14} {threads:3d} {t * 1e3:10.3f} {' '.join(ratios)}", flush=True)


if __name__ == "__main__":
    main()
