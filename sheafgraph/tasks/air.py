r"""``sheafgraph air``: air-quality forecasting with AirPhyNet variants and baselines (PRSA Beijing, KnowAir, or files
in the AirPhyNet paper's layout), from the command line.

Protocol, models and scores: :mod:`sheafgraph.physics.experiment` (AirPhyNet's protocol: 24 -> 24 steps of 3 h,
chronological 7:1:2 split, masked MAE / RMSE in ug/m3 per horizon and station, persistence as reference); every
option is declared in :class:`sheafgraph.physics.recipes.AirConfig`; training (Adam, cosine schedule, clipping,
early stopping on validation MAE, best weights reloaded): :mod:`sheafgraph.physics.training`.

``--samples K`` (AirPhyNet variants) also scores K trajectories per window sampled from the latent initial state:
CRPS and the coverage of the central 80% / 90% intervals per horizon; the plot draws the intervals.
``--calibrate`` adds to each trajectory a draw from the point forecast's validation residuals at its horizon;
``--calibrate-bins B`` tabulates them in B bins of the forecast's level (errors grow with pollution; default 2). With
``--calibrate`` the JSON also holds ``calibration_check``: tables fitted on the first half of the validation windows,
coverage and CRPS on the second half; choose B on it (not on test). ``air evaluate --checkpoint ck.pt --samples 20
--calibrate --calibrate-bins B`` re-scores a saved model, so values of B are compared without training again.

``--seeds 0-9`` trains the model and ``--baseline`` (default gru) on each seed and prints their paired MAE
differences per horizon with standard errors, on validation (to choose on) and test (reported only)
(:mod:`sheafgraph.physics.seeds`).

A checkpoint (``--checkpoint``) stores the scaler and the station network too: ``sheafgraph air evaluate
--checkpoint ck.pt`` scores it again on its dataset, and ``sheafgraph air forecast --checkpoint ck.pt --csv-dir
recent/`` forecasts the next 24 steps at every station from the latest 24 steps of PRSA-layout CSVs
(:mod:`sheafgraph.physics.inference`). Trained with ``--samples K --calibrate``, the checkpoint also holds the
validation residual table, and ``forecast --samples K`` gives calibrated intervals (without it, it says they are not).

Threads: ``--threads auto`` (the default, :func:`sheafgraph.utils.device.idle_cores`) takes the cores idle when
the command starts: on a busy machine that is one thread, as it must be (one diff_adv epoch on a loaded 2-core
machine: 708 s with torch's default threads, 42 s with 1; ``benchmarks/air.py`` under a load of about 5 on 2 cores:
0.54 s per diff_adv training batch with 1 thread, 4.8 s with 2), on an idle one all cores.

Command line: ``sheafgraph air --data prsa --model diff_adv --epochs 10 --samples 20 --json out.json --plot out.png``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Dict, Optional

from sheafgraph.physics.experiment import prepare_experiment, run_experiment
from sheafgraph.physics.inference import evaluate_checkpoint, forecast_from_csv
from sheafgraph.physics.plots import plot_forecast, plot_latest_forecast, station_index
from sheafgraph.physics.recipes import MODELS, AirConfig, model_label
from sheafgraph.physics.seeds import compare_seeds, format_comparison, parse_seeds
from sheafgraph.physics.training import sample_generator
from sheafgraph.utils import set_threads
from sheafgraph.utils.options import add_dataclass_flags, add_flag, add_threads_flag, check_outputs, given, plain_text

#: the subcommand's one-line help (read by :data:`sheafgraph.tasks.TASKS` without importing this module)
HELP = "air-quality forecasting (AirPhyNet variants and baselines)"

FIELDS = {f.name: f for f in dataclasses.fields(AirConfig)}


def _config_flags(parser, *names: str, **helps: str) -> None:
    """Flags for the AirConfig fields ``names`` only (help from the declaration unless given in ``helps``)."""
    for name in names:
        f = FIELDS[name]
        add_flag(parser, name, f.default, helps.get(name, f.metadata["help"]), annotation=f.type,
                 choices=f.metadata["choices"])


def _common(parser, outputs: Dict[str, str]) -> None:
    """``--threads`` and the output files ``outputs`` (flag -> help), checked by :func:`_start`."""
    add_threads_flag(parser)
    for flag, help_text in outputs.items():
        parser.add_argument(f"--{flag}", default=None, help=help_text)


def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("air", help=HELP, description=plain_text(__doc__),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    group = p.add_argument_group("run options (sheafgraph.physics.recipes.AirConfig; the default is shown)")
    names = add_dataclass_flags(group, AirConfig, exclude=("wind_mode", "show_progress"))
    wind = FIELDS["wind_mode"]                                  # the flag is --wind, as it always was
    group.add_argument("--wind", dest="wind_mode", default=None, choices=list(wind.metadata["choices"]),
                       help=f"{wind.metadata['help']} (default {wind.default})")
    seeds = p.add_argument_group("paired comparison over seeds (sheafgraph.physics.seeds)")
    seeds.add_argument("--seeds", default=None, help="train the model and --baseline on each of these seeds (e.g. "
                                                     "0-9, 0,3,5) and print their paired MAE differences")
    seeds.add_argument("--baseline", default="gru", choices=list(MODELS), help="model to compare with (default gru)")
    _common(p, {"json": "write the results as JSON here", "plot": "save a PNG of forecast vs observation here"})
    p.add_argument("--station", default=None, help="station to plot (default the first)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run, config_flags=names + ["wind_mode"])
    actions = p.add_subparsers(dest="action", metavar="ACTION",
                               help="use a checkpoint of a run (without ACTION: train and test a model)")
    e = actions.add_parser("evaluate", help="score a checkpoint on its dataset's validation and test windows",
                           description=plain_text(evaluate_checkpoint.__doc__))
    e.add_argument("--root", default=None, help="where to read the data (default the run's --root)")
    e.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _config_flags(e, "calibrate", "calibrate_bins")
    f = actions.add_parser("forecast", help="forecast the next 72 h at every station from recent PRSA-layout CSVs",
                           description=plain_text(forecast_from_csv.__doc__))
    f.add_argument("--csv-dir", required=True, help="folder with one PRSA_Data_<station>_*.csv per station")
    _config_flags(f, "seed", seed="seed of the sampled trajectories")
    for sub, outputs in ((e, {"json": "write the results as JSON here"}),
                         (f, {"out": "write the forecast table as CSV here (default: print it)",
                              "plot": "save a PNG of the latest observations and the forecast here"})):
        sub.add_argument("--checkpoint", required=True, help="a file written by sheafgraph air --checkpoint")
        _config_flags(sub, "samples", "device", samples="sampled trajectories for CRPS / intervals (AirPhyNet "
                                                        "variants)")
        _common(sub, outputs)
    e.set_defaults(func=run_evaluate)
    f.set_defaults(func=run_forecast)


def _start(args: argparse.Namespace, *outputs: str) -> None:
    """Before any work: the threads, and that every output file given can be written."""
    set_threads(args.threads)
    check_outputs(args, *outputs)


def run(args: argparse.Namespace) -> int:
    _start(args, "json", "plot", "checkpoint")
    config = AirConfig(**given(args, args.config_flags), show_progress=False if args.no_progress else None)
    if args.seeds is not None:
        if args.plot or args.seed is not None:
            raise ValueError("--seeds runs many seeds: it does not go with --seed or --plot")
        result = compare_seeds(config, parse_seeds(args.seeds), args.baseline)
        print(format_comparison(result))
        _write_json(result, args.json)
        return 0
    exp = prepare_experiment(config)
    station = station_index(exp.data, args.station or exp.data.stations[0])
    result = run_experiment(exp)
    if args.plot:
        path = plot_forecast(args.plot, exp.model, exp.data, exp.windows["test"], exp.graph, exp.scaler,
                             exp.data.stations[station], label=model_label(config), device=config.device,
                             samples=config.samples, generator=sample_generator(config.seed))
        print(f"plot: {path}")
    _report(result, args.json)
    return 0


def _scores(summary: Dict[str, object]) -> str:
    """``MAE .. RMSE ..`` of a summary, then ``CRPS .. coverage 80% ..`` when it has samples."""
    text = f"MAE {summary['mae']:.2f} RMSE {summary['rmse']:.2f}"
    if "crps" in summary:
        text += f" CRPS {summary['crps']:.2f} coverage " + " ".join(
            f"{level} {value:.2f}" for level, value in summary["coverage"].items())
    return text


def _report(result: Dict[str, object], path: Optional[str]) -> None:
    """Print the test scores of a result; write it as JSON to ``path`` when given."""
    test = result["test"]
    print(f"test {result['model']}: {_scores(test)} ug/m3 overall; " + "; ".join(
        f"{h}: {_scores(v)}" for h, v in test["headline"].items()))
    _write_json(result, path)


def _write_json(result: Dict[str, object], path: Optional[str]) -> None:
    if path:
        Path(path).write_text(json.dumps(result, indent=1))
        print(f"results: {path}")


def run_evaluate(args: argparse.Namespace) -> int:
    _start(args, "json")
    result = evaluate_checkpoint(args.checkpoint, args.root, show_progress=False if args.no_progress else None,
                                 **given(args, ("device", "samples", "calibrate", "calibrate_bins")))
    _report(result, args.json)
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    _start(args, "out", "plot")
    table, data, trained = forecast_from_csv(args.checkpoint, args.csv_dir, **given(args, ("samples", "seed",
                                                                                             "device")))
    print(f"{model_label(trained.config)} (epoch {trained.epoch}): forecast issued {str(table['time'].min())[:16]} "
          f"from {data.num_steps} steps read, the last at {str(data.timestamps[-1])[:16]}")
    if args.samples:
        print("intervals calibrated with the checkpoint's validation residuals" if trained.residuals is not None else
              "intervals NOT calibrated: the latent trajectories' spread alone, far too narrow; train with "
              "--samples K --calibrate --checkpoint to store validation residuals in the checkpoint")
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.2f")
        print(f"forecast: {args.out}")
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if args.plot:
        print(f"plot: {plot_latest_forecast(args.plot, table, data, model_label(trained.config))}")
    return 0
