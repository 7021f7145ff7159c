"""What one ``doctor`` check returns (shared by the modules that define checks)."""

from __future__ import annotations

from dataclasses import dataclass

OK = "ok"
WARN = "warn"
FAIL = "fail"



@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    status: str  # ok | warn | fail
    summary: str
    problems: tuple[str, ...] = ()
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "problems": list(self.problems),
            "fix": self.fix,
        }

