"""What a result was computed from: content digests of every input, for manifests and for reusing study cells.

A :class:`Fingerprint` names each input by what it is (a scenario section, a referenced file, the travel times, the
seed, the number of replications, the package version and code) and holds the sha256 of its content, so two runs
can be compared part by part: a study cell is reused only when every part is unchanged, and the console can say
which parts were not. Nothing here depends on file names alone, set or dict order, the clock or the process.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import sim


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Digest of a JSON-able value in canonical form (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return sha256_bytes(text.encode("utf-8"))


def sha256_arrays(*arrays: np.ndarray | None) -> str:
    """Digest of arrays by dtype, shape and bytes (None counts as absent)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes() if a.dtype != object else json.dumps(a.tolist(), default=str).encode())
    return h.hexdigest()


@functools.cache
def code_digest() -> str:
    """Digest of the rescuesim package's source files (a change of code, even without a new version number)."""
    root = Path(sim.__file__).parent
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".js", ".css")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def referenced_files(scenario) -> dict[str, Path]:
    """Every file the scenario reads, by its path as written in the scenario (relative to the scenario file)."""
    base = scenario.source_path.parent if scenario.source_path is not None else Path.cwd()
    refs = [p.installations_file for p in scenario.parks if p.installations_file]
    refs += [line.geojson for line in scenario.pipelines if line.geojson]
    if scenario.siting.candidates_file:
        refs.append(scenario.siting.candidates_file)
    if scenario.network.path is not None:
        refs.append(scenario.network.path)
    return {str(ref): base / ref for ref in refs}


def input_checksums(scenario, network_hash: str | None = None) -> dict[str, str]:
    """sha256 of the scenario file and of every file it references, plus the road network's content hash."""
    sums: dict[str, str] = {}
    src = scenario.source_path
    if src is not None and src.is_file():
        sums[str(src)] = sha256_file(src)
    else:
        sums["<scenario text>"] = sha256_bytes(scenario.source_text.encode())
    for path in referenced_files(scenario).values():
        if path.is_file():
            sums[str(path)] = sha256_file(path)
    if network_hash:
        sums["road network content"] = network_hash
    return sums


def world_digest(world) -> str:
    """Digest of what the model reads of a world besides the scenario: travel and access times, snapping."""
    return sha256_arrays(
        world.travel_out_s, world.travel_in_s, world.access_s, world.site_node, world.base_node, world.site_snap_m
    )


@dataclass(frozen=True)
class Fingerprint:
    """The digests of everything a run was computed from, part by part (name -> digest or value)."""

    parts: dict[str, str]

    @property
    def key(self) -> str:
        return sha256_json(self.parts)

    def changes_from(self, old: Fingerprint) -> list[str]:
        """What differs from an earlier fingerprint, in words ("bases changed", "replications 3 -> 5")."""
        out = []
        for name in sorted(set(self.parts) | set(old.parts)):
            new_v, old_v = self.parts.get(name), old.parts.get(name)
            if new_v == old_v:
                continue
            if old_v is None:
                out.append(f"{name} added")
            elif new_v is None:
                out.append(f"{name} removed")
            elif name in _PLAIN_VALUES:
                out.append(f"{name} {old_v} -> {new_v}")
            else:
                out.append(f"{name} changed")
        return out

    def to_json(self) -> dict[str, str]:
        return dict(sorted(self.parts.items()))

    @classmethod
    def from_json(cls, data: dict) -> Fingerprint:
        return cls(parts={str(k): str(v) for k, v in data.items()})


_PLAIN_VALUES = ("seed", "replications", "rescuesim version")


def run_fingerprint(world, *, seed: int, replications: int) -> Fingerprint:
    """The fingerprint of simulating ``world`` for ``replications`` replications from ``seed``.

    Parts: each top-level section of the effective scenario (after overrides, with the content of the files it
    references already read in), each referenced file's bytes, the world's travel times and snapping, seed,
    replications, package version and the digest of the package's code.
    """
    parts = dict(_scenario_parts(world.scenario))
    for name, path in referenced_files(world.scenario).items():
        parts[f"file {name}"] = sha256_file(path) if path.is_file() else "missing"
    parts["travel times"] = world_digest(world)
    parts["seed"] = str(int(seed))
    parts["replications"] = str(int(replications))
    parts["rescuesim version"] = sim.__version__
    parts["rescuesim code"] = code_digest()
    return Fingerprint(parts=parts)


def _scenario_parts(scenario) -> Iterator[tuple[str, str]]:
    dump = scenario.model_dump(mode="json")
    for section in sorted(dump):
        yield f"scenario.{section}", sha256_json(dump[section])
