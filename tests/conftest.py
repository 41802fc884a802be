"""Shared test settings. Tests never read ../shared: they write their own small fixtures."""
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("pqcompile", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pqcompile")

# Small models on a 2-core machine: a second intra-op thread costs more than it gains, and
# one thread keeps results independent of the machine's core count.
torch.set_num_threads(1)
