"""End-to-end pipelines behind the command line, one module per subcommand.

:data:`TASKS` names every subcommand and its one-line help; the command line imports a task's module only when
that subcommand runs (so ``sheafgraph --help`` does not import torch). A new task is a module here with
``add_subcommand(subparsers)`` plus its line in :data:`TASKS`.
"""

#: subcommand -> one-line help (the module is ``sheafgraph.tasks.<subcommand>``)
TASKS = {
    "air": "air-quality forecasting (AirPhyNet variants and baselines)",
    "graphgen": "GDSS generic graph generation (ego_small, community_small, ENZYMES, grid): train, sample, evaluate",
    "molgen": "GDSS molecule generation: train, sample, evaluate",
    "nodecls": "node classification: NSD models and MLP/GCN baselines on 10 splits",
}
