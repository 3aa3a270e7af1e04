"""Speed of the sheaf Laplacian with learned maps: sheafgraph vs the reference-style expanded COO vs scalar CSR.

    python benchmarks/ops.py [--nodes 10000] [--degree 10] [--features 32] [--dims 1 2 3 4 5] [--big 100000]
                             [--threads 2] [--clock wall|cpu] [--device cpu|cuda]

On a GPU: ``--device cuda --big 1000000`` adds the 1M-node row of the GPU targets (issue 15).

(a) sheafgraph: ``sheaf_laplacian(structure, maps, normalization="sym") @ x`` (assembly from maps + CSR kernel with
    custom autograd);
(b) reference style (what NSD does with torch_sparse.spmm): the same block values expanded to d² scalar COO
    entries per block, ``index_add`` of ``values * x[col]`` into rows, torch autograd for the backward;
(c) scalar CSR ``torch.sparse.mm`` with the same nnz and fixed values (a practical lower bound).
Times are medians over repeats, in ms. The "product" columns multiply by a Laplacian whose values are learned
(gradients for x and values; (c) for x only); the "from maps" columns include building the Laplacian from the maps
(eigh of the d×d degree blocks, per-edge products), which (a) and (b) share.
Effective GB/s counts the minimal traffic of the product: CSR values and indices, x read, y written.
"""
from __future__ import annotations

import argparse

import torch
from timing import copy_bandwidth_gbs, median_s, random_graph

from sheafgraph.ops import GraphStructure, SparseOperator, sheaf_laplacian
from sheafgraph.utils import resolve_device


def median_ms(fn, repeats: int, device: torch.device, clock: str) -> float:
    wall, cpu = median_s(fn, repeats, device)
    return 1e3 * (cpu if clock == "cpu" else wall)


def reference_product(op: SparseOperator, x: torch.Tensor) -> torch.Tensor:
    """Expanded-COO gather/scatter with the operator's values, differentiated by torch autograd."""
    sp = op.pattern.scalar(op.d, op.diagonal_blocks)
    values = op.values.reshape(-1)[sp.gather]
    return x.new_zeros(x.shape).index_add_(0, sp.row, values.unsqueeze(1) * x[sp.col])


def run_row(n: int, degree: int, f: int, d: int, repeats: int, device: torch.device, clock: str) -> dict:
    structure = GraphStructure(random_graph(n, degree, device=device), n)
    maps = torch.randn(structure.num_edges, d, d, device=device, requires_grad=True)
    x = torch.randn(n * d, f, device=device, requires_grad=True)
    op = sheaf_laplacian(structure, maps.detach(), normalization="sym")      # also warms the structure caches
    values = op.values.clone().requires_grad_()
    learned = SparseOperator(op.pattern, values, d, symmetric=True)
    sp = op.pattern.scalar(d, False)
    fixed = torch.sparse_csr_tensor(sp.crow, sp.col, torch.randn(sp.nnz, device=device), (sp.size, sp.size),
                                    check_invariants=False)

    def fwd_bwd(fn):
        def step():
            maps.grad = values.grad = x.grad = None
            fn().sum().backward()
        return step

    products = {"ours": lambda: learned @ x, "ref": lambda: reference_product(learned, x),
                "csr": lambda: torch.sparse.mm(fixed, x),
                "ours_e2e": lambda: sheaf_laplacian(structure, maps, normalization="sym") @ x,
                "ref_e2e": lambda: reference_product(sheaf_laplacian(structure, maps, normalization="sym"), x)}
    row = dict(n=n, E=structure.num_edges, d=d, nnz=sp.nnz)
    for name, fn in products.items():
        slow = name.startswith("ref")
        reps = max(3, repeats // 3) if slow else repeats
        with torch.no_grad():
            row[name + "_fwd"] = median_ms(fn, reps, device, clock)
        row[name + "_fb"] = median_ms(fwd_bwd(fn), reps, device, clock)
    traffic = sp.nnz * (4 + 8) + 2 * n * d * f * 4
    row["gbs"] = traffic / (row["ours_fwd"] * 1e-3) / 1e9
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--degree", type=int, default=10)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--big", type=int, default=100_000, help="nodes of the extra d=3 row (0 to skip)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: process CPU time (stable on a shared machine; use with --threads 1; CPU only)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default %(default)s)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cuda" and args.clock == "cpu":
        parser.error("--clock cpu measures host time only; use --clock wall on a GPU")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bw = copy_bandwidth_gbs(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {args.clock} clock, copy bandwidth {bw:.1f} GB/s (read+write)")
    print("general d×d learned maps, normalised augmented sheaf Laplacian; median ms; f+b = forward + backward")
    print("product: L @ x with learned values (grads for x and values; csr: x only, fixed values)")
    print("from maps: sheaf_laplacian(maps) @ x, assembly included (grads for x and maps)")
    head = (f"{'n':>7} {'E':>7} {'d':>2} {'nnz':>9} | {'ours':>6} {'ref':>7} {'csr':>6} {'ours/csr':>8} | "
            f"{'ours f+b':>8} {'ref f+b':>8} {'csr f+b':>7} {'ref/ours':>8} | {'GB/s':>4} {'%bw':>4} | "
            f"{'maps fwd':>8} {'maps f+b':>8} {'ref f+b':>8} {'ref/ours':>8}")
    print(head)
    print("-" * len(head))
    rows = [(args.nodes, d) for d in args.dims] + ([(args.big, 3)] if args.big else [])
    for n, d in rows:
        r = run_row(n, args.degree, args.features, d, args.repeats if n <= 20_000 else 5, device, args.clock)
        print(f"{r['n']:>7} {r['E']:>7} {r['d']:>2} {r['nnz']:>9} | {r['ours_fwd']:>6.2f} {r['ref_fwd']:>7.2f} "
              f"{r['csr_fwd']:>6.2f} {r['ours_fwd'] / r['csr_fwd']:>7.2f}x | {r['ours_fb']:>8.2f} {r['ref_fb']:>8.2f} "
              f"{r['csr_fb']:>7.2f} {r['ref_fb'] / r['ours_fb']:>7.2f}x | {r['gbs']:>4.1f} {100 * r['gbs'] / bw:>3.0f}% | "
              f"{r['ours_e2e_fwd']:>8.2f} {r['ours_e2e_fb']:>8.2f} {r['ref_e2e_fb']:>8.2f} "
              f"{r['ref_e2e_fb'] / r['ours_e2e_fb']:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
