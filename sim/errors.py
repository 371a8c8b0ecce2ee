"""User-facing errors: the command line prints their message and exits with status 2."""

from __future__ import annotations


class RescuesimError(Exception):
    """A problem with the user's input (scenario, file, network); never a bug in rescuesim."""


class ScenarioError(RescuesimError):
    """Every problem found in one scenario file, each as ``path: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}\n{lines}")


class NetworkError(RescuesimError):
    """The road network cannot be loaded or used (missing file, offline download, unreachable point)."""


class ClusterError(RescuesimError):
    """The Dask scheduler cannot be reached or has no workers, was lost mid-run, or a task kept killing workers."""


class FarFromRoadError(NetworkError):
    """Every point farther from the road network than its limit, each as ``field[name]: ...``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("points too far from the road network:\n  " + "\n  ".join(self.problems))
