"""Shared test settings. Tests never read ../shared: they write their own small fixtures."""
from hypothesis import HealthCheck, settings

settings.register_profile("pqcompile", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pqcompile")
