"""Validation problems: every problem names the file, row, column, value and rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DropProblem:
    """One thing wrong with a drop.

    `line` is the line number in the file (the CSV header is line 1) or None for file-level
    problems; `value` is the offending text (never a password: those are redacted).
    """

    file: str
    rule: str
    line: int | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column:
            where += f", column {self.column}"
        if self.value is not None:
            shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
            where += f", value {shown!r}"
        return f"{where}: {self.rule}"

    def as_dict(self) -> dict:
        return asdict(self)


class DropValidationError(ValueError):
    """A drop was rejected before anything was written; `problems` lists every problem."""

    def __init__(self, problems: list[DropProblem], client_key: str | None = None):
        self.problems = list(problems)
        self.client_key = client_key
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"drop rejected with {len(self.problems)} problem(s):\n{lines}")
