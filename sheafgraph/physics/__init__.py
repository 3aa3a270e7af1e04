"""Physics-guided air-quality forecasting: advection-diffusion terms on a station graph, the AirPhyNet latent ODE
(Hettige et al., ICLR 2024) and forecasting baselines."""
from sheafgraph.physics.airphynet import VARIANTS, AirPhyNet, Forecast, check_inputs, station_sequences
from sheafgraph.physics.baselines import GRUForecaster, HistoricalAverage, Persistence
from sheafgraph.physics.odefunc import AdvectionDiffusionODE, inverse_softplus
from sheafgraph.physics.transport import (PhysicsGraph, advection_operators, advection_term, batch_structure,
                                          physics_graph, shared_matmul, station_laplacian)
from sheafgraph.physics.wind import WIND_MODES, forecast_wind, forward_fill, km_per_hour

__all__ = [
    "AdvectionDiffusionODE", "AirPhyNet", "Forecast", "GRUForecaster", "HistoricalAverage", "Persistence",
    "PhysicsGraph", "VARIANTS", "WIND_MODES", "advection_operators", "advection_term", "batch_structure",
    "check_inputs", "forecast_wind", "forward_fill", "inverse_softplus", "km_per_hour", "physics_graph",
    "shared_matmul", "station_laplacian", "station_sequences",
]
