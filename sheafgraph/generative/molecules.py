"""GDSS for molecules (Jo, Lee, Hwang, ICML 2022): train on a molecule dataset, load a trained generator, sample
molecules.

A sampled graph is quantised (:mod:`sheafgraph.generative.quantize`), decoded as is to count the validity without
correction, then corrected with GDSS's valency rule (:func:`sheafgraph.chem.decode_and_correct`).
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import torch
from rdkit import Chem

from sheafgraph.chem import AtomVocabulary, DecodedMolecules, decode_and_correct, smiles_to_dense
from sheafgraph.data.molecules import load_qm9, molecule_dataset_spec
from sheafgraph.generative.bond_channels import BOND_LEVELS, to_bond_channels
from sheafgraph.generative.generate import GeneratedGraphs, generate, sample_node_counts
from sheafgraph.generative.guidance import ValenceGuidance, check_guidance
from sheafgraph.generative.noise import Graphs
from sheafgraph.generative.samplers import check_sampler_options, sampler_options
from sheafgraph.generative.score_networks import GDSSNoiseModel
from sheafgraph.generative.sde import GraphSDE
from sheafgraph.generative.training import fit
from sheafgraph.utils import load_checkpoint, progress, save_checkpoint
from sheafgraph.utils.checks import check_choice, positive_int

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained" / "gdss_qm9.pt"
# GDSS's QM9 configuration (config/qm9.yaml): VE SDEs with sigma in [0.1, 1] for both X and A
QM9_SDE = {"x": {"name": "ve", "sigma_min": 0.1, "sigma_max": 1.0},
           "adj": {"name": "ve", "sigma_min": 0.1, "sigma_max": 1.0}}
# default of `molgen sample`: GDSS's QM9 sampler (predictor-corrector, reverse diffusion + Langevin, snr 0.2) with
# 100 steps instead of 1000 (fast on CPU) and Langevin noise scaled by 0.5 instead of GDSS's 0.7 (stop 18: higher
# validity without the charge rule, lower FCD, novelty not lower); both chosen for the shipped checkpoint on metrics
# against training molecules only, no test-set metric (see benchmarks/RESULTS.md). Every sampler runs
# DEFAULT_SAMPLER["steps"] steps unless told otherwise; the other options apply to the default sampler only.
DEFAULT_SAMPLER = {"sampler": "pc", "steps": 100, "scale_eps": 0.5}
# valence guidance (sheafgraph.generative.guidance) of every sampler on a scalar-bond checkpoint: strength (0 = off)
# and the time below which it acts; categorical-bond checkpoints sample unguided unless told otherwise
DEFAULT_GUIDANCE = {"strength": 0.0, "start": 1.0}
# a checkpoint's ``bonds``: the bond encoding it was trained on, "kekule" when absent: GDSS's kekulised bond orders,
# "aromatic" (aromatic bonds at order 1.5, sheafgraph.chem.encode) or "categorical" (the aromatic-aware bond orders as
# one channel per bond type, sheafgraph.generative.bond_channels)
BOND_ENCODINGS = ("kekule", "aromatic", "categorical")


class MoleculeGenerator(NamedTuple):
    """A trained GDSS model ready to sample: noise model (EMA weights), SDEs, node-count histogram, vocabulary, and
    the bond encoding it was trained on (``bonds``, one of :data:`BOND_ENCODINGS`)."""

    model: GDSSNoiseModel
    sde: GraphSDE
    node_counts: torch.Tensor
    vocab: AtomVocabulary
    info: Dict[str, Any]
    bonds: str = "kekule"

    @property
    def aromatic(self) -> bool:
        """Trained on the aromatic-aware bond orders (aromatic bonds at order 1.5, as a scalar or as a channel of
        categorical bonds), so that sampled bond code 4 decodes as aromatic."""
        return self.bonds != "kekule"

    @property
    def max_nodes(self) -> int:
        return self.node_counts.numel() - 1


class MoleculeSamples(NamedTuple):
    """Sampled molecules: corrected SMILES (None where correction failed), molecules, validity w/o correction, and
    the sampled graphs themselves (``GeneratedGraphs``: atom types and bond orders, for diagnostics)."""

    smiles: List[Optional[str]]
    mols: List[Optional[Chem.Mol]]
    valid_without_correction: float
    nfe: int
    seconds: float
    options: Dict[str, Any]
    graphs: GeneratedGraphs
    decoded: DecodedMolecules


def load_generator(checkpoint=None, device: str = "cpu") -> MoleculeGenerator:
    """Load a training or exported checkpoint (default: the shipped QM9 model) onto ``device``; uses the EMA
    weights."""
    path = Path(checkpoint) if checkpoint is not None else PRETRAINED
    state = load_checkpoint(path)
    missing = [k for k in ("model_config", "sde_config", "ema", "node_counts", "atom_types") if k not in state]
    if missing:
        raise ValueError(f"{path} is not a GDSS checkpoint: missing {missing}")
    try:
        model = GDSSNoiseModel.from_config(state["model_config"])
        sde = GraphSDE.from_config(state["sde_config"])
        model.load_state_dict(state["ema"])
    except (TypeError, RuntimeError) as err:           # a config this version cannot build, or weights of another
        raise ValueError(f"{path}: its weights do not fit its model config ({str(err).splitlines()[0]})") from None
    model.to(device).eval()
    info = {k: state[k] for k in ("dataset", "epoch", "history", "train_config") if k in state}
    bonds = state.get("bonds", "kekule")
    if bonds not in BOND_ENCODINGS:
        raise ValueError(f"{path}: unknown bond encoding {bonds!r} (this version knows {', '.join(BOND_ENCODINGS)})")
    return MoleculeGenerator(model, sde, state["node_counts"].float(), AtomVocabulary(state["atom_types"]), info,
                             bonds)


def export_checkpoint(src, dst) -> Path:
    """Write a small sampling-only copy of a training checkpoint (configs, EMA weights, node counts, history)."""
    state = load_checkpoint(src)
    keep = ("model_config", "sde_config", "ema", "node_counts", "atom_types", "dataset", "epoch", "history",
            "train_config", "lr_resets", "bonds")
    return save_checkpoint({k: state[k] for k in keep if k in state}, dst)


def default_options(sampler: str) -> Dict[str, Any]:
    """What ``molgen sample`` sets for ``sampler`` beyond its own defaults: the steps, and for the default sampler
    its chosen options (:data:`DEFAULT_SAMPLER`)."""
    if sampler != DEFAULT_SAMPLER["sampler"]:
        return {"steps": DEFAULT_SAMPLER["steps"]}
    return {k: v for k, v in DEFAULT_SAMPLER.items() if k != "sampler"}


def sample_molecules(gen: MoleculeGenerator, num: int, *, sampler: str = DEFAULT_SAMPLER["sampler"],
                     batch_size: int = 1000, seed: int = 0, num_atoms: Optional[int] = None,
                     options: Optional[Dict[str, Any]] = None,
                     guidance: Optional[Dict[str, float]] = None) -> MoleculeSamples:
    """Sample ``num`` molecules; ``num_atoms`` fixes the heavy-atom count (default: drawn from training data).

    ``options`` go to the sampler (:func:`~sheafgraph.generative.samplers.sampler_options` lists what each takes);
    ``steps`` defaults to ``DEFAULT_SAMPLER["steps"]`` for every sampler, the rest to :data:`DEFAULT_SAMPLER`'s for
    its sampler and to the sampler's own defaults for the others. ``guidance`` (``strength``, ``start``) sets the
    valence guidance of :class:`~sheafgraph.generative.guidance.ValenceGuidance`, default :data:`DEFAULT_GUIDANCE`
    (off for categorical bonds); the returned options record it as ``valence_guidance`` and ``guidance_start``.
    """
    check_sampler_options(sampler, options or {})
    positive_int(num, "num")
    guide = {**DEFAULT_GUIDANCE, **({"strength": 0.0} if gen.bonds == "categorical" else {}), **(guidance or {})}
    unknown = sorted(set(guide) - set(DEFAULT_GUIDANCE))
    if unknown:
        raise ValueError(f"unknown valence guidance option(s) {unknown}; valid: {', '.join(DEFAULT_GUIDANCE)}")
    check_guidance(guide["strength"], guide["start"])
    model = gen.model if guide["strength"] == 0 else ValenceGuidance(
        gen.model, gen.sde, gen.vocab.max_valences, aromatic=gen.aromatic, **guide)
    generator = torch.Generator().manual_seed(seed)                 # atom counts (and the noise on CPU)
    if num_atoms is None:
        counts = sample_node_counts(gen.node_counts, num, generator)
    elif not 1 <= num_atoms <= gen.max_nodes:
        raise ValueError(f"num_atoms={num_atoms} is outside 1..{gen.max_nodes}, the atom counts of the training "
                         f"data ({gen.info.get('dataset', 'this checkpoint')})")
    else:
        counts = torch.full((num,), num_atoms)
    options = {**sampler_options(sampler), **default_options(sampler), **(options or {})}
    device = next(gen.model.parameters()).device
    noise = generator if device.type == "cpu" else torch.Generator(device).manual_seed(seed)
    start = time.perf_counter()
    out = generate(model, gen.sde, counts, num_features=len(gen.vocab), sampler=sampler,
                   batch_size=batch_size, generator=noise, options=options, max_nodes=gen.max_nodes,
                   aromatic=gen.aromatic)
    seconds = time.perf_counter() - start
    decoded = decode_and_correct(out.atom_types, out.bond_orders, gen.vocab)    # correct, keep the largest fragment
    smiles = [Chem.MolToSmiles(m) if m is not None else None for m in decoded.corrected]
    options = {**options, "valence_guidance": guide["strength"], "guidance_start": guide["start"]}
    return MoleculeSamples(smiles, decoded.corrected, decoded.validity_without_correction, out.nfe, seconds, options,
                           out, decoded)


def draw_grid(mols: Sequence[Optional[Chem.Mol]], path, num: int = 24, per_row: int = 6) -> Path:
    """Save a PNG grid of the first ``num`` molecules (RDKit ``Draw.MolsToGridImage``)."""
    from rdkit.Chem import Draw

    chosen = [m for m in mols if m is not None][:num]
    if not chosen:
        raise ValueError("no valid molecule to draw")
    image = Draw.MolsToGridImage(chosen, molsPerRow=per_row, subImgSize=(220, 180),
                                 legends=[Chem.MolToSmiles(m) for m in chosen])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(path))
    return path


def train_generator(dataset: str = "qm9", *, checkpoint, root=None, epochs: int = 300, batch_size: int = 1024,
                    lr: float = 5e-3, sde_config: Optional[Dict] = None, time_conditioning: bool = False,
                    bonds: str = "kekule", seed: int = 0, resume: bool = True, resume_lr: Optional[float] = None,
                    device: str = "cpu", show_progress: Optional[bool] = None, log=print) -> Dict:
    """Train GDSS on the training split of ``dataset`` (GDSS's QM9 hyperparameters by default) on ``device``,
    checkpointing every epoch to ``checkpoint`` and resuming from it when it exists (with the model and SDE
    configuration stored there; ``time_conditioning``, ``sde_config`` and ``bonds`` apply to new runs);
    data-parallel when ``torch.distributed`` is initialised (see :func:`sheafgraph.generative.fit`).

    ``bonds``: one of :data:`BOND_ENCODINGS`: GDSS's kekulised bond orders, ``"aromatic"`` (aromatic bonds at order
    1.5, :mod:`sheafgraph.chem.encode`) or ``"categorical"`` (those bond orders as one channel per bond type,
    :mod:`sheafgraph.generative.bond_channels`); the checkpoint records it so sampling decodes accordingly."""
    stored = load_checkpoint(checkpoint) if resume and Path(checkpoint).is_file() else None
    bonds = stored.get("bonds", "kekule") if stored is not None else check_choice(bonds, BOND_ENCODINGS, "bonds")
    data, vocab = _training_graphs(dataset, root, bonds)
    counts = torch.bincount(data.mask.sum(-1).long(), minlength=data.mask.shape[1] + 1).float()
    log(f"{dataset}: {data.x.shape[0]} training molecules, up to {data.mask.shape[1]} atoms of {vocab.symbols}, "
        f"{bonds} bonds")
    if stored is not None:
        model, sde = GDSSNoiseModel.from_config(stored["model_config"]), GraphSDE.from_config(stored["sde_config"])
    else:
        torch.manual_seed(seed)
        model = GDSSNoiseModel(len(vocab), time_conditioning=time_conditioning,
                               bond_levels=BOND_LEVELS if bonds == "categorical" else None)
        sde = GraphSDE.from_config(sde_config or QM9_SDE)
    extra = {"node_counts": counts, "atom_types": list(vocab.symbols), "dataset": dataset, "bonds": bonds}
    return fit(model, sde, data, checkpoint, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
               resume=resume, resume_lr=resume_lr, device=device, extra=extra, log=log,
               progress=partial(progress, enabled=show_progress))


def _training_graphs(dataset: str, root=None, bonds: str = "kekule"):
    """Dense training graphs of ``dataset`` in the bond encoding ``bonds`` and its atom vocabulary."""
    if dataset != "qm9":
        raise ValueError(f"molgen trains on 'qm9' only, got {dataset!r}")
    spec = molecule_dataset_spec(dataset)
    x, adj = smiles_to_dense(load_qm9(root).train, spec.vocab, spec.max_atoms, aromatic=bonds != "kekule")
    if bonds == "categorical":
        adj = to_bond_channels(adj, BOND_LEVELS)
    return Graphs(x, adj, (x.sum(-1) > 0).to(x.dtype)), spec.vocab
