r"""Paired multi-seed comparison of a forecaster with a named baseline (``sheafgraph air --seeds 0-9``).

For every seed s the model of the config and the baseline (the same config with ``model=baseline``, no sampling) are
trained and scored on the same data; per split and horizon (24 / 48 / 72 h and overall) the MAE differences
:math:`d_s = \mathrm{MAE}_{model} - \mathrm{MAE}_{baseline}` give a mean and its standard error
(:func:`~sheafgraph.metrics.forecasting.paired_difference`); negative means the model is better. Choices (options,
epochs) are to be made on the validation split; the test split is reported, never used to choose.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Sequence

from sheafgraph.metrics.forecasting import paired_difference
from sheafgraph.physics.experiment import load_air_data, prepare_experiment, run_experiment
from sheafgraph.physics.recipes import MODELS, AirConfig
from sheafgraph.utils.checks import positive_int

SPLITS = ("val", "test")


def parse_seeds(text: str) -> List[int]:
    """Seeds from ``"0-9"``, ``"0,3,5"`` or ``"0-4,7"`` (non-negative ints, each at most once, in the given order)."""
    seeds: List[int] = []
    for part in str(text).split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"seeds must look like 0-9, 0,3,5 or 0-4,7, got {text!r}") from None
        if last < first:
            raise ValueError(f"seed range {part.strip()!r} runs backwards; write {last}-{first}")
        seeds += range(positive_int(first, "a seed", minimum=0), last + 1)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {text!r} name a seed twice")
    return seeds


def _scores(split: Dict[str, object]) -> Dict[str, float]:
    """MAE per headline horizon and overall of one split's summary."""
    return {**{h: v["mae"] for h, v in split["headline"].items()}, "overall": split["mae"]}


def compare_seeds(config: AirConfig, seeds: Sequence[int], baseline: str = "gru",
                  log: Callable[[str], None] = print) -> Dict[str, object]:
    """Train ``config.model`` and ``baseline`` on each seed and pair their MAE per split and horizon.

    Returns a JSON-ready dict: ``runs`` (per seed, each model's MAE per split and horizon and its epochs),
    ``paired`` (split -> horizon -> mean difference, s.e., n) and ``mean`` (model -> split -> horizon -> mean MAE).
    The data are read once; each run is the one ``sheafgraph air --seed s`` makes.
    """
    MODELS[baseline]                                             # the registry names an unknown baseline
    if baseline == config.model:
        raise ValueError(f"--baseline {baseline} is the model itself; name another model to compare with")
    if config.checkpoint:
        raise ValueError("--checkpoint keeps the weights of one run; it does not go with --seeds")
    seeds = [positive_int(s, "a seed", minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    configs = {config.model: config, baseline: dataclasses.replace(config, model=baseline, samples=0)}
    data = load_air_data(config.data, config.root, config.stations, config.steps)
    runs: List[Dict[str, object]] = []
    for seed in seeds:
        row: Dict[str, object] = {"seed": seed}
        for name, base in configs.items():
            def tagged(line: str, name=name, seed=seed) -> None:
                log(f"seed {seed} {name}: {line}")
            result = run_experiment(prepare_experiment(dataclasses.replace(base, seed=seed), data), tagged)
            row[name] = {**{split: _scores(result[split]) for split in SPLITS}, "epochs_run": result["epochs_run"]}
        runs.append(row)
    horizons = list(runs[0][config.model]["val"])
    paired = {split: {h: paired_difference([r[config.model][split][h] for r in runs],
                                           [r[baseline][split][h] for r in runs]) for h in horizons}
              for split in SPLITS}
    mean = {name: {split: {h: sum(r[name][split][h] for r in runs) / len(runs) for h in horizons}
                   for split in SPLITS} for name in configs}
    return {"model": config.model, "baseline": baseline, "metric": "mae", "seeds": seeds,
            "config": dataclasses.asdict(config), "runs": runs, "paired": paired, "mean": mean}


def format_comparison(result: Dict[str, object]) -> str:
    """The paired differences of :func:`compare_seeds` as a table (mean ± s.e. per split and horizon)."""
    model, baseline, paired = result["model"], result["baseline"], result["paired"]
    horizons = list(paired["val"])
    n = len(result["seeds"])
    lines = [f"{model} - {baseline}: paired MAE differences over {n} seed(s), mean ± s.e. in ug/m3 (negative: "
             f"{model} better)", f"{'split':<6}" + "".join(f"{h:>18}" for h in horizons)]
    for split in SPLITS:
        cells = []
        for h in horizons:
            d = paired[split][h]
            cells.append(f"{d['mean']:+.2f} ± {d['se']:.2f}" if d["se"] is not None else f"{d['mean']:+.2f}")
        lines.append(f"{split:<6}" + "".join(f"{c:>18}" for c in cells))
    lines.append("choose on val; test is reported only")
    return "\n".join(lines)
