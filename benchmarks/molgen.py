"""Speed and quality of GDSS sampling on QM9 with the shipped checkpoint, for several samplers and step counts.

    python benchmarks/molgen.py [--checkpoint PATH | --gdss-checkpoint gdss_qm9.pth] [--num 1000] [--threads 2]
                                [--device cpu|cuda] [--root DATA] [--configs s4:100 pc:100 dpm_solver:20 ...]
                                [--no-nspdk] [--no-metrics] [--reference test|train]

Each config is ``sampler:steps[:option=value...]`` (e.g. ``s4:100:snr=0.2:scale_eps=0.7``); ``guidance=S`` and
``guidance_start=T`` set the valence guidance (``generative.guidance``; default ``molgen sample``'s,
``generative.molecules.DEFAULT_GUIDANCE``); other options not given take ``molgen sample``'s defaults
(``generative.molecules.default_options``: ``pc`` is the CLI default, scale_eps 0.5 since stop 18;
``pc:100:scale_eps=0.7`` is GDSS's own), else the sampler's own (``generative.samplers.sampler_options``).
For each: wall time of sampling ``--num`` molecules (atom counts drawn from the training distribution,
quantisation included; RDKit decoding and valency correction excluded), NFE, validity without correction with
GDSS's N+/O+ charge rule and without it ("no N+/O+": every atom neutral) and, for a model of the aromatic-aware
encoding, without the pyrrole-type hydrogen rule either ("no rules"; ``chem.decode``), then uniqueness, novelty
(vs the training split), V.U.N. (valid, unique and novel, as a share of all samples), FCD of all and of the novel
ones ("FCD nov"), and NSPDK MMD (vs the test split) of the corrected molecules -- the metrics of ``sheafgraph
molgen evaluate``, plus FCD nov. A chemistry table follows (:func:`metrics.molecules.molecule_properties`:
aromatic rings, charged atoms, fluorine, small molecules, double and triple bonds; for samples also the share of
graphs valid as sampled that are disconnected, and of valid samples that copy a training molecule; with the test
reference also the share that are QM9 test molecules, "test hits"), with the reference molecules as the last row.
QM9 holds every GDB-17 molecule of at most 9 heavy atoms, so a sampler of the QM9 population itself would copy training
molecules 90% of the time and hit test molecules 10% of the time (novelty 0.10): copies and test hits in the ratio of
the splits (0.11) say the model samples QM9's chemistry without preferring its training half; novel samples that are
not test hits lie outside QM9 (outside GDB-17's rules).
``--gdss-checkpoint`` samples GDSS's released QM9 weights instead, run in this code (``benchmarks/gdss_released.py``:
the released file, GDSS's VE score turned into a noise prediction, GDSS's GCN self-loops; QM9's atom counts and
vocabulary from the shipped checkpoint); GDSS samples QM9 with ``pc:1000:scale_eps=0.7``.
``--reference train`` scores FCD and NSPDK against training molecules instead (:class:`Reference`), for choosing
sampler options without looking at the test split.
The test-set ChemNet statistics are computed once and then read from the cache of :func:`metrics.molecules.fcd`
(``sheafgraph.data.paths.cache_dir()``), as ``sheafgraph molgen evaluate`` does.
Two reference rows: ``--num`` random *training* molecules (the floor of FCD/NSPDK at this sample size) and GDSS's
published QM9 result (Jo et al., ICML 2022, Table 2: 10,000 molecules, PC sampler with 1000 steps).
Wall time depends on the machine's load; ``cpu s`` is the process CPU time of the same call (all threads, RDKit
decoding included).
"""
from __future__ import annotations

import argparse
import contextlib
import random
import time

import torch
from gdss_released import gdss_self_loops, released_model
from rdkit import Chem

from sheafgraph.data.molecules import load_qm9
from sheafgraph.data.paths import cache_dir
from sheafgraph.generative.molecules import MoleculeGenerator, load_generator, sample_molecules
from sheafgraph.metrics.molecules import (canonical_set, canonical_smiles, fcd, molecule_properties, novelty,
                                          nspdk_mmd, sanitized_mol, uniqueness, validity_without_correction, vun)
from sheafgraph.utils import resolve_device

LABEL = 36          # width of the label column
# config keys of the valence guidance (generative.guidance), not sampler options
GUIDANCE_KEYS = {"guidance": "strength", "guidance_start": "start"}
PAPER = {"valid_without_correction": 0.9572, "uniqueness": 0.9846, "fcd": 2.900, "nspdk": 0.003}


class Reference:
    """The molecules the samples are scored against, with the costly parts precomputed (canonical training set;
    ChemNet statistics of the FCD reference: in fcd's cache).

    ``split="test"``: the QM9 test split for FCD and NSPDK (the issue's metrics). ``split="train"``: 10,000 random
    training molecules for FCD and 1,000 others for NSPDK, so sampler options can be compared without looking at the
    test split.
    """

    def __init__(self, root, nspdk: bool, split: str = "test"):
        splits = load_qm9(root, check_smiles=False)
        self.train_smiles = splits.train
        self.train = canonical_set(splits.train)
        self.test = None
        if split == "test":
            self.fcd_ref = self.nspdk_ref = [sanitized_mol(s) for s in splits.test]
            self.test = canonical_set(splits.test)
        else:
            pick = [splits.train[i] for i in random.Random(1).sample(range(len(splits.train)), 11000)]
            self.fcd_ref, self.nspdk_ref = ([sanitized_mol(s) for s in part] for part in (pick[:10000], pick[10000:]))
        self.nspdk = nspdk

    def scores(self, smiles):
        valid = [m for m in map(sanitized_mol, smiles) if m is not None]
        novel = [m for m in valid if canonical_smiles(m) not in self.train]
        return {"uniqueness": uniqueness(valid), "novelty": novelty(valid, self.train),
                "vun": vun(list(smiles), self.train),
                "fcd": fcd(valid, self.fcd_ref, cache_dir=cache_dir()),
                "fcd_novel": fcd(novel, self.fcd_ref, cache_dir=cache_dir()) if len(novel) > 1 else float("nan"),
                "nspdk": nspdk_mmd(valid, self.nspdk_ref) if self.nspdk else float("nan")}


def chemistry_row(label: str, smiles, raw=None, train=None, test=None) -> str:
    """The property table's row (percentages): molecule_properties, plus for samples the share of graphs counted
    valid as sampled that are disconnected, the share of valid samples that copy a training molecule and, given the
    canonical ``test`` set, the share that are test molecules."""
    valid = [s for s in smiles if s is not None]
    p = molecule_properties(valid)
    extra = ""
    if raw is not None:
        valid_raw = [m for m in raw if sanitized_mol(m) is not None]
        disconnected = sum(len(Chem.GetMolFrags(m)) > 1 for m in valid_raw) / max(len(valid_raw), 1)
        copies = 1.0 - novelty(valid, train)
        extra = f"{100 * disconnected:>13.1f}{100 * copies:>8.1f}"
        if test is not None:
            extra += f"{100 * (1.0 - novelty(valid, test)):>11.1f}"
    return (f"{label:<{LABEL}}{100 * p['aromatic_ring']:>9.1f}{100 * p['charged_atom']:>9.1f}"
            f"{100 * p['fluorine_atoms']:>6.2f}"
            f"{100 * p['at_most_7_atoms']:>9.1f}{100 * p['double_bonds']:>8.1f}{100 * p['triple_bonds']:>8.1f}" + extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--gdss-checkpoint", default=None, help="GDSS's released gdss_qm9.pth instead")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", nargs="+",
                        default=["pc:100", "pc:50", "s4:100:snr=0.2:scale_eps=0.7", "s4:50:snr=0.2:scale_eps=0.7",
                                 "s4:100:snr=0.4:scale_eps=0.9:scale_eps_early=1.0:switch_time=0.5",
                                 "dpm_solver:20", "ode:20"])
    parser.add_argument("--no-metrics", action="store_true", help="only time, NFE and validity w/o correction")
    parser.add_argument("--no-nspdk", action="store_true", help="skip NSPDK (about a minute per row)")
    parser.add_argument("--root", default=None, help="data root holding molecules/qm9 (for the metrics)")
    parser.add_argument("--reference", choices=("test", "train"), default="test",
                        help="score FCD/NSPDK against the test split (default) or against training molecules "
                             "(to tune sampler options without the test split)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    gen, released = load_generator(args.checkpoint, device), contextlib.nullcontext
    if args.gdss_checkpoint:
        model, config = released_model(args.gdss_checkpoint)
        if config["data"]["data"] != "QM9":
            raise SystemExit(f"{args.gdss_checkpoint} is GDSS's {config['data']['data']} model, not QM9's")
        gen = MoleculeGenerator(model.to(device), model.sde, gen.node_counts, gen.vocab,
                                {"epoch": f"GDSS released ({config['weights']} weights)"})
        released = gdss_self_loops
    ref = None if args.no_metrics else Reference(args.root, nspdk=not args.no_nspdk, split=args.reference)
    print(f"checkpoint epoch {gen.info.get('epoch')}, {gen.bonds} bonds, {args.num} "
          f"molecules, {torch.get_num_threads()} threads")
    print(f"{'sampler':<{LABEL}}{'steps':>6}{'NFE':>6}{'wall s':>8}{'cpu s':>7}{'valid w/o corr':>16}{'no N+/O+':>9}"
          f"{'no rules':>9}{'unique':>8}{'novel':>8}{'V.U.N.':>8}{'FCD':>8}{'FCD nov':>8}{'NSPDK':>9}")

    def metrics_columns(smiles) -> str:
        if ref is None:
            return ""
        s = ref.scores(smiles)
        return (f"{s['uniqueness']:>8.2%}{s['novelty']:>8.2%}{s['vun']:>8.2%}{s['fcd']:>8.3f}{s['fcd_novel']:>8.3f}"
                f"{s['nspdk']:>9.4f}")

    chemistry = []

    for config in args.configs:
        name, steps, *extra = config.split(":")
        options = {"steps": int(steps), **{k: float(v) for k, v in (kv.split("=") for kv in extra)}}
        guidance = {GUIDANCE_KEYS[k]: options.pop(k) for k in list(options) if k in GUIDANCE_KEYS}
        cpu = time.process_time()
        with released():
            out = sample_molecules(gen, args.num, sampler=name, seed=args.seed, options=options, guidance=guidance)
        cpu = time.process_time() - cpu
        label = ":".join([name] + extra)
        no_charge, no_rules = (validity_without_correction(out.graphs.atom_types, out.graphs.bond_orders, gen.vocab,
                                                           charge_rule=False, aromatic_hydrogens=hydrogens)
                               for hydrogens in (True, False))
        print(f"{label:<{LABEL}}{steps:>6}{out.nfe:>6}{out.seconds:>8.1f}{cpu:>7.1f}"
              f"{out.valid_without_correction:>16.2%}"
              f"{no_charge:>9.2%}{no_rules:>9.2%}" + metrics_columns(out.smiles), flush=True)
        if ref is not None:
            chemistry.append(chemistry_row(label, out.smiles, out.decoded.raw, ref.train, ref.test))
    if ref is not None:
        data = random.Random(args.seed).sample(ref.train_smiles, args.num)
        print(f"{'QM9 train (random)':<{LABEL}}{'':>6}{'':>6}{'':>8}{'':>7}{1:>16.2%}{'':>18}" + metrics_columns(data))
    print(f"{'GDSS paper (10k samples)':<{LABEL}}{1000:>6}{2000:>6}{'':>8}{'':>7}"
          f"{PAPER['valid_without_correction']:>16.2%}"
          f"{'':>18}{PAPER['uniqueness']:>8.2%}{'':>8}{'':>8}{PAPER['fcd']:>8.3f}{'':>8}{PAPER['nspdk']:>9.4f}")
    if ref is not None:
        print(f"\nchemistry, % ({args.reference} reference row: its molecules)")
        print(f"{'':<{LABEL}}{'aromatic':>9}{'charged':>9}{'F':>6}{'<=7 atoms':>9}{'double':>8}{'triple':>8}"
              f"{'disconnected':>13}{'copies':>8}" + (f"{'test hits':>11}" if ref.test is not None else ""))
        for row in chemistry:
            print(row)
        print(chemistry_row(f"QM9 {args.reference}", [m for m in ref.fcd_ref if m is not None]))


if __name__ == "__main__":
    main()
