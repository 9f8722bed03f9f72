"""Passed / warned / failed / skipped asset checks of a run — a skipped check is never a pass.

A check that does not apply (e.g. `live_api` without SIGMASIGHT_API_URL) is not emitted by its
asset: Dagster planned it, the run finished, no evaluation arrived, so the UI shows it as
*Skipped*. `summarize_checks` reproduces that classification for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CheckSummary:
    passed: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)  # failed with severity WARN (non-blocking)
    failed: list[str] = field(default_factory=list)  # failed with severity ERROR
    skipped: list[str] = field(default_factory=list)  # planned, never evaluated

    @property
    def evaluated(self) -> int:
        return len(self.passed) + len(self.warned) + len(self.failed)

    def line(self) -> str:
        """e.g. '6/6 passed, 1 skipped' or '5/7 passed, 1 warned, 1 failed'."""
        parts = [f"{len(self.passed)}/{self.evaluated} passed"]
        for label, names in (("warned", self.warned), ("failed", self.failed), ("skipped", self.skipped)):
            if names:
                parts.append(f"{len(names)} {label}")
        return ", ".join(parts)

    def merge(self, other: "CheckSummary") -> "CheckSummary":
        return CheckSummary(self.passed + other.passed, self.warned + other.warned,
                            self.failed + other.failed, self.skipped + other.skipped)


def _name(key) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def summarize_checks(result) -> CheckSummary:
    """Classify every check of an ExecuteInProcessResult (names are 'asset:check')."""
    from dagster import AssetCheckSeverity, DagsterEventType

    summary = CheckSummary()
    evaluated = set()
    for evaluation in result.get_asset_check_evaluations():
        key = evaluation.asset_check_key
        evaluated.add(key)
        if evaluation.passed:
            summary.passed.append(_name(key))
        elif evaluation.severity == AssetCheckSeverity.WARN:
            summary.warned.append(_name(key))
        else:
            summary.failed.append(_name(key))
    # planned = the checks this run was to execute; the in-process result carries no PLANNED events,
    # so they come from the run's check selection or, when unset (= all), from the job's outputs
    succeeded_nodes = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_SUCCESS}
    for node_name, key in _planned_checks(result):
        if key not in evaluated and node_name in succeeded_nodes:  # a failed step's checks are not "skipped"
            summary.skipped.append(_name(key))
    return summary


def _planned_checks(result) -> list[tuple[str, object]]:
    from dagster._core.definitions.dependency import NodeHandle

    selection = result.dagster_run.asset_check_selection
    layer = result.job_def.asset_layer
    planned = []
    for node in result.job_def.graph.nodes:
        for output in node.definition.output_defs:
            key = layer.get_asset_check_key_for_node_output(NodeHandle(node.name, None), output.name)
            if key is not None and (selection is None or key in selection):
                planned.append((node.name, key))
    return planned


def skip_reasons(result) -> dict[str, str]:
    """{check name: reason} from the `skipped_checks` metadata (a JSON object) of the run's materialisations."""
    reasons: dict[str, str] = {}
    for event in result.get_asset_materialization_events():
        meta = event.event_specific_data.materialization.metadata
        value = meta["skipped_checks"].value if "skipped_checks" in meta else None
        if isinstance(value, dict):
            reasons.update({str(k): str(v) for k, v in value.items()})
    return reasons
