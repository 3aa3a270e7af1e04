"""Physics-guided air-quality forecasting: advection-diffusion terms on a station graph, the AirPhyNet latent ODE
(Hettige et al., ICLR 2024) and forecasting baselines.

The models share one call (:class:`~sheafgraph.physics.forecaster.Forecaster`). The forecasting pipeline behind
``sheafgraph air`` lives in submodules imported on demand (they read data with pandas): :mod:`.recipes` (the run's
configuration and the model factory), :mod:`.experiment` (data, windows, a run), :mod:`.training` (training loop,
evaluation), :mod:`.inference` (checkpoints, forecasts from CSVs), :mod:`.plots` and :mod:`.seeds` (paired
multi-seed comparison).
"""
from sheafgraph.physics.airphynet import VARIANTS, AirPhyNet
from sheafgraph.physics.baselines import GRUForecaster, HistoricalAverage, Persistence
from sheafgraph.physics.forecaster import Forecast, ForecastInputs, Forecaster, check_inputs, station_sequences
from sheafgraph.physics.odefunc import AdvectionDiffusionODE, BoundField, FieldOperators, inverse_softplus
from sheafgraph.physics.transport import (AdvectionSchedule, PhysicsGraph, advection_operators, advection_term,
                                          batch_structure, physics_graph, shared_matmul, station_laplacian)
from sheafgraph.physics.wind import WIND_MODES, WIND_SCHEDULES, forecast_wind, forward_fill, km_per_hour

__all__ = [
    "AdvectionDiffusionODE", "AdvectionSchedule", "AirPhyNet", "BoundField", "FieldOperators", "Forecast",
    "ForecastInputs", "Forecaster", "GRUForecaster", "HistoricalAverage", "Persistence", "PhysicsGraph", "VARIANTS",
    "WIND_MODES", "WIND_SCHEDULES", "advection_operators", "advection_term", "batch_structure", "check_inputs",
    "forecast_wind", "forward_fill", "inverse_softplus", "km_per_hour", "physics_graph", "shared_matmul",
    "station_laplacian", "station_sequences",
]
