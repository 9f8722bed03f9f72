"""sigmasight-onboarding: a Dagster code location that onboards SigmaSight client drops."""

__version__ = "0.1.0"
