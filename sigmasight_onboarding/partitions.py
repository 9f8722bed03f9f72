"""Partitions: `clients` is dynamic, one key per client (the lower-case email)."""

from dagster import DynamicPartitionsDefinition

CLIENTS_PARTITION = "clients"
clients_partitions = DynamicPartitionsDefinition(name=CLIENTS_PARTITION)
