"""GDSS's released checkpoints (github.com/harryjo97/GDSS, ``checkpoints/<dataset>/gdss_<dataset>.pth``) run in
sheafgraph's score networks, samplers and metrics: a check of this code against the paper's own trained models.

    python benchmarks/gdss_released.py --checkpoint gdss_enzymes.pth --out gdss_enzymes.json [--seed 0] [--num N]
                                       [--steps 1000] [--threads 1] [--root /path/to/shared/data]
    sheafgraph graphgen evaluate gdss_enzymes.json --reference test
    python benchmarks/molgen.py --gdss-checkpoint gdss_qm9.pth --configs pc:1000:scale_eps=0.7

For a generic-graph checkpoint this script samples as many graphs as the test split (node counts drawn from the
training graphs) with the dataset's GDSS sampler (the preset's, equal to GDSS's config) and writes them as
``sheafgraph graphgen sample`` does; for QM9 ``benchmarks/molgen.py --gdss-checkpoint`` scores the released weights
like the shipped ones.

* Loading: the files are pickles holding easydict configs, which ``torch.load(weights_only=True)`` refuses; they are
  read by an unpickler that admits only ``OrderedDict``, tensors rebuilt from storages and ``EasyDict`` (as a dict)
  and refuses every other global, so no code in the file runs.
* Weights: ``x_state_dict`` / ``adj_state_dict``, or the EMA shadow parameters where GDSS samples with them (its
  ``sample.use_ema``), renamed onto :class:`~sheafgraph.generative.score_networks.GDSSNoiseModel` (per-channel
  q/k/v GCNs stacked into one, ``mlp`` / ``multi_channel`` / ``final`` as the edge / node MLPs and heads).
* Outputs: GDSS's networks give the score :math:`s` for a VE SDE and the noise for a VP SDE; sheafgraph's give the
  noise, so a VE output becomes :math:`\\hat\\epsilon = -\\sigma_t s`.
* Self-loops: GDSS's GCN sets the diagonal of each adjacency channel to 1 before normalising, sheafgraph's adds
  :math:`I`; equal for the noisy adjacency (zero diagonal) but not for its powers, so here the channels are
  normalised with their diagonal zeroed first (:func:`gdss_self_loops`).
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import pickle
import types
from typing import Any, Dict, Iterator, Tuple

import torch
import torch._utils
from torch import Tensor, nn

import sheafgraph.generative.layers as layers
from sheafgraph.generative.graph_generation import (GraphGenerator, dataset_key, get_preset, node_count_histogram,
                                                    sample_graphs, save_graphs)
from sheafgraph.generative.score_networks import GDSSNoiseModel
from sheafgraph.generative.sde import VESDE, GraphSDE
from sheafgraph.tasks.graphgen import training_graphs


class _EasyDict(dict):
    """easydict's EasyDict read back as a plain dict, item by item (no attribute access)."""

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.update(state)


_ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
            ("easydict", "EasyDict"): _EasyDict}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"a GDSS checkpoint holds no {module}.{name}; refused")
        return _ALLOWED[(module, name)]


_PICKLE = types.SimpleNamespace(Unpickler=_Unpickler, load=pickle.load, __name__="gdss_pickle")


def load_released(path) -> Dict[str, Any]:
    """A released GDSS ``.pth`` file as plain dicts and tensors (no global but :data:`_ALLOWED` is unpickled)."""
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_PICKLE)


def _stacked(sd: Dict[str, Tensor], prefix: str, channels: int, part: str) -> Tensor:
    """The q, k, v GCN ``part`` (weight or bias) of every channel's attention, as one multi-channel GCN's."""
    if part == "weight":
        return torch.stack([torch.cat([sd[f"{prefix}{c}.gnn_{q}.weight"] for q in "qkv"], dim=1)
                            for c in range(channels)])
    return torch.stack([torch.cat([sd[f"{prefix}{c}.gnn_{q}.bias"] for q in "qkv"]).view(1, -1)
                        for c in range(channels)])


def renamed(sd_x: Dict[str, Tensor], sd_adj: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """GDSS's ScoreNetworkX / ScoreNetworkA state dicts as one :class:`GDSSNoiseModel` state dict."""
    out = {}
    for key, value in sd_x.items():
        if key.startswith("layers."):
            _, index, name = key.split(".")
            out[f"net_x.convs.{index}.{name}"] = value.unsqueeze(0) if name == "weight" else value.view(1, 1, -1)
        else:
            out["net_x.head." + key.removeprefix("final.")] = value
    for key, value in sd_adj.items():
        if key.startswith("final."):
            out["net_adj.head." + key.removeprefix("final.")] = value
            continue
        _, layer, module, *rest = key.split(".")
        ours = f"net_adj.layers.{layer}."
        if module == "mlp":
            out[ours + "edge_mlp." + ".".join(rest)] = value
        elif module == "multi_channel":
            out[ours + "node_mlp." + ".".join(rest)] = value
        elif rest[0] == "0" and rest[1] == "gnn_q":          # once per layer: all channels' q, k, v together
            prefix = f"layers.{layer}.attn."
            channels = len({k.split(".")[3] for k in sd_adj if k.startswith(prefix)})
            out[ours + "attention.qkv." + rest[2]] = _stacked(sd_adj, prefix, channels, rest[2])
    return out


def _shadow(sd: Dict[str, Tensor], ema: Dict[str, Any]) -> Dict[str, Tensor]:
    """GDSS's EMA shadow parameters (a list in parameter order) keyed like ``sd``."""
    shadow = ema["shadow_params"]
    if len(shadow) != len(sd) or any(v.shape != s.shape for v, s in zip(sd.values(), shadow)):
        raise ValueError("the EMA shadow parameters do not match the state dict")
    return dict(zip(sd, shadow))


def released_sde(config: Dict[str, Any]) -> GraphSDE:
    """GDSS's ``sde`` config (VE: sigma from beta_min to beta_max; VP: beta_min, beta_max) as a GraphSDE."""
    def one(c: Dict[str, Any]) -> Dict[str, Any]:
        if c["type"] == "VE":
            return {"name": "ve", "sigma_min": c["beta_min"], "sigma_max": c["beta_max"]}
        return {"name": "vp", "beta_min": c["beta_min"], "beta_max": c["beta_max"]}
    return GraphSDE.from_config({"x": one(config["x"]), "adj": one(config["adj"])})


class ReleasedModel(nn.Module):
    """GDSS's networks as a noise predictor: a VE component's output (a score) times :math:`-\\sigma_t`."""

    def __init__(self, model: GDSSNoiseModel, sde: GraphSDE):
        super().__init__()
        self.model, self.sde, self.num_features = model, sde, model.num_features

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor, t: Tensor) -> Tuple[Tensor, Tensor]:
        outs = []
        for out, sde in zip(self.model(x, adj, mask, t), self.sde):
            if isinstance(sde, VESDE):
                out = -sde.marginal_coefficients(t)[1].to(out.dtype).view(-1, *[1] * (out.dim() - 1)) * out
            outs.append(out)
        return tuple(outs)


def released_model(path) -> Tuple[ReleasedModel, Dict[str, Any]]:
    """The model of a released checkpoint (EMA weights where GDSS samples with them) and its GDSS config."""
    state = load_released(path)
    config = state["model_config"]
    use_ema = bool(config.get("sample", {}).get("use_ema", False)) and "ema_x" in state
    sd_x, sd_adj = state["x_state_dict"], state["adj_state_dict"]
    if use_ema:
        sd_x, sd_adj = _shadow(sd_x, state["ema_x"]), _shadow(sd_adj, state["ema_adj"])
    m = config["model"]
    model = GDSSNoiseModel(config["data"]["max_feat_num"], x_params={"depth": m["depth"], "hidden": m["nhid"]},
                           adj_params={"hidden": m["nhid"], "num_layers": m["num_layers"],
                                       "num_linears": m["num_linears"], "c_init": m["c_init"], "c_hid": m["c_hid"],
                                       "c_final": m["c_final"], "attn_dim": m["adim"], "num_heads": m["num_heads"]},
                           min_degree=1.0)
    model.load_state_dict(renamed(sd_x, sd_adj))
    return ReleasedModel(model.eval(), released_sde(config["sde"])), {**config, "weights": "ema" if use_ema
                                                                      else "model"}


@contextlib.contextmanager
def gdss_self_loops() -> Iterator[None]:
    """Within: every adjacency channel is normalised as GDSS's GCN does (diagonal set to 1, not incremented)."""
    normalize = layers.normalize_channels

    def set_diagonal(adj: Tensor, mask: Tensor, min_degree: float) -> Tensor:
        eye = torch.eye(adj.shape[-1], dtype=torch.bool, device=adj.device)
        return normalize(adj.masked_fill(eye, 0.0), mask, min_degree)

    layers.normalize_channels = set_diagonal
    try:
        yield
    finally:
        layers.normalize_channels = normalize


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a released GDSS .pth of a generic-graph dataset")
    p.add_argument("--out", required=True, help="graphs JSON for `sheafgraph graphgen evaluate`")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num", type=int, default=None, help="graphs (default: as many as the test split)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: GDSS's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--root", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model, config = released_model(args.checkpoint)
    name = dataset_key(config["data"]["data"])
    data, num_test = training_graphs(name, args.root)
    sampling = {**get_preset(name).sampler, **({"steps": args.steps} if args.steps else {})}
    gen = GraphGenerator(model, model.sde, node_count_histogram(data.mask), name, {**sampling, "weights":
                                                                                    config["weights"]}, {})
    with gdss_self_loops():
        out = sample_graphs(gen, args.num or num_test, seed=args.seed)
    save_graphs(out.graphs, args.out, name=name, checkpoint=str(args.checkpoint), seed=args.seed,
                sampling=out.sampling)
    edges = sum(g.number_of_edges() for g in out.graphs) / len(out.graphs)
    print(f"{len(out.graphs)} {name} graphs of GDSS's released weights -> {args.out} (mean {edges:.1f} edges); "
          f"{out.nfe} NFE, {out.seconds:.1f} s; {out.sampling}")


if __name__ == "__main__":
    main()
