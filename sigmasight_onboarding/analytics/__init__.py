"""Pure computation: numpy/scipy (pandas only for labelled inputs/outputs). No Dagster, no DB."""
