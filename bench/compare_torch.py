"""Times PyTorch on bench/optim_step's workloads and prints descent/PyTorch ratios.

Runs ./build/bench/optim_step and the same optimizer steps in PyTorch in one
session, so both see the same machine state. Use any PyTorch:
    /tmp/venv-torch/bin/python bench/compare_torch.py       # current 2.x (pip, in a venv)
    /usr/bin/python3 bench/compare_torch.py                 # 1.13 (Debian)
Options: --repeats N (default 9), --filter TEXT, --binary PATH.

--train compares bench/train_step instead (an MLP's forward, backward and
fused-Adam step): --rounds R rounds alternate the descent binary and PyTorch,
each timing --repeats steps per model and thread count; the table gives the
median over rounds of each round's median and the range of the totals.
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


# bench/optim_step's matrix optimizers: Adafactor on workloads (a) and (b)
# (PyTorch has forloop and foreach; descent also fused, compared in the
# "vs fused" column), Muon on a stack of
# 1024x1024 matrices (no implementation choice; at most 3 timed steps).
MATRIX_OPTIMIZERS = {
    "Adafactor": (lambda p, **kw: torch.optim.Adafactor(p, **kw), ("a:1x16M", "b:200-tensors"), ("forloop", "foreach")),
}
MUON_WORKLOAD = "m:8x1024x1024"


def time_torch_muon(repeats):
    gen = torch.Generator().manual_seed(7)
    params = []
    for _ in range(8):
        p = torch.randn(1024, 1024, generator=gen)
        p.grad = torch.randn(1024, 1024, generator=gen)
        params.append(p)
    opt = torch.optim.Muon(params)
    opt.step()
    times = []
    for _ in range(min(repeats, 3)):
        start = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def time_torch(opt_name, impl, shapes, repeats, make=None):
    gen = torch.Generator().manual_seed(7)
    params = []
    for s in shapes:
        p = torch.randn(s, generator=gen)
        p.grad = torch.randn(s, generator=gen)
        params.append(p)
    try:
        opt = (make or OPTIMIZERS[opt_name])(params, **impl_kwargs(impl))
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
        # 10 columns: a row against the memory roof; 7: a Muon row (GFLOP/s).
        if len(parts) not in (7, 10) or not parts[3].isdigit():  # the title and the headers
            continue
        name, impl, workload, threads, ms = parts[0], parts[1], parts[2], int(parts[3]), float(parts[4])
        rows[(name, impl, workload, threads)] = (ms / 1e3, line)
    return out, rows


TRAIN_MODELS = {
    "mlp:784-512-512-10/b64": ([784, 512, 512, 10], 64),
    "wide:4096-4096-4096/b256": ([4096, 4096, 4096], 256),
}


def time_torch_train(widths, batch, threads, repeats):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    x = torch.randn(batch, widths[0])
    y = torch.randint(0, widths[-1], (batch,))
    phases = [[], [], [], []]
    for r in range(-2, repeats):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad()
        t3 = time.perf_counter()
        if r >= 0:
            for i, v in enumerate((t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                phases[i].append(v * 1e3)
    return [statistics.median(p) for p in phases]


def train_main(args):
    binary = args.binary if args.binary != "./build/bench/optim_step" else "./build/bench/train_step"
    ours, theirs = {}, {}
    for _ in range(args.rounds):
        out = subprocess.run([binary, str(args.repeats), "1", args.filter], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 8 or parts[0] == "model":
                continue
            ours.setdefault((parts[0], int(parts[1])), []).append([float(v) for v in parts[2:6]])
        for name, (widths, batch) in TRAIN_MODELS.items():
            if args.filter and args.filter not in name:
                continue
            for threads in (1, 2):
                theirs.setdefault((name, threads), []).append(time_torch_train(widths, batch, threads, args.repeats))
    print(f"PyTorch {torch.__version__} vs descent, {args.rounds} alternating rounds of {args.repeats} steps: "
          "median over rounds of the per-round medians (ms); total range = min..max of the round medians")
    print(f"{'model':26} {'thr':>3} {'who':7} {'fwd':>8} {'bwd':>8} {'optim':>8} {'total':>8} {'total range':>17} "
          f"{'fwd+bwd':>8} {'total vs torch':>14} {'fwd+bwd vs torch':>16}")
    for key in sorted(ours):
        if key not in theirs:
            continue
        rows = {"descent": ours[key], "torch": theirs[key]}
        med = {who: [statistics.median(r[i] for r in rs) for i in range(4)] for who, rs in rows.items()}
        for who, rs in rows.items():
            m = med[who]
            totals = [r[3] for r in rs]
            rng = f"{min(totals):.2f}..{max(totals):.2f}"
            ratio = ""
            if who == "descent":
                t = med["torch"]
                ratio = f"{m[3] / t[3]:13.2f}x {(m[0] + m[1]) / (t[0] + t[1]):15.2f}x"
            print(f"{key[0]:26} {key[1]:3d} {who:7} {m[0]:8.3f} {m[1]:8.3f} {m[2]:8.3f} {m[3]:8.3f} {rng:>17} "
                  f"{m[0] + m[1]:8.3f} {ratio}", flush=True)


def print_ratios(ours, opt_name, impl, wname, threads, t):
    """One row: PyTorch's time (None: not available) and its ratio to each descent implementation."""
    ratios = []
    for our_impl in ("forloop", "default", "foreach", "fused"):
        mine = ours.get((opt_name, our_impl, wname, threads))
        ratios.append(f"{t / mine[0]:10.2f}x" if t and mine else f"{'-':>11}")
    shown = f"{t * 1e3:10.3f}" if t else f"{'n/a':>10}"
    print(f"{opt_name:14} {impl:10} {wname:14} {threads:3d} {shown} {' '.join(ratios)}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--filter", default="")
    ap.add_argument("--binary", default="./build/bench/optim_step")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.train:
        return train_main(args)
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
                    print_ratios(ours, opt_name, impl, wname, threads, t)
    for threads in sorted({k[3] for k in ours}):
        torch.set_num_threads(threads)
        for opt_name, (make, wnames, impls) in MATRIX_OPTIMIZERS.items():
            for wname in wnames:
                for impl in impls:
                    if args.filter and args.filter not in f"{opt_name}/{impl}/{wname}":
                        continue
                    t = time_torch(opt_name, impl, workloads()[wname], args.repeats, make)
                    print_ratios(ours, opt_name, impl, wname, threads, t)
        if not args.filter or args.filter in f"Muon/default/{MUON_WORKLOAD}":
            mine = ours.get(("Muon", "default", MUON_WORKLOAD, threads))
            t = time_torch_muon(args.repeats) if hasattr(torch.optim, "Muon") else None
            shown = f"{t * 1e3:10.3f}" if t else f"{'n/a':>10}"
            ratio = f"{t / mine[0]:10.2f}x" if t and mine else f"{'-':>11}"
            print(f"{'Muon':14} {'default':10} {MUON_WORKLOAD:14} {threads:3d} {shown} {'-':>11} {ratio} "
                  f"{'-':>11} {'-':>11}", flush=True)
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
