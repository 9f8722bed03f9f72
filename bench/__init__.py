"""Benchmarks of the SigmaSight onboarding code location: ``python -m bench`` (see bench/README.md)."""
