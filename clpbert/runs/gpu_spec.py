"""`--gpus` parsing: indices, UUIDs or `auto:N`, checked against what NVML sees.

Explicit GPUs are resolved to UUIDs once, at launch, and stored with the run, so a run keeps the
same physical GPUs even if the index order changes (CUDA_DEVICE_ORDER=PCI_BUS_ID keeps NVML and
CUDA indices equal in the trainer). `auto:N` is resolved by the scheduler when GPUs are free.
Without `--gpus` (or `--gpus cpu`) the run uses the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clpbert.errors import UserError
from clpbert.gpu.readings import GpuReading, GpuSnapshot, gpu_key


@dataclass(frozen=True)
class GpuRef:
    """One physical GPU: its NVML index and UUID (key = UUID, or `index:<n>` without one)."""

    index: int
    uuid: str | None

    @property
    def key(self) -> str:
        return gpu_key(self.uuid, self.index)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "uuid": self.uuid}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GpuRef:
        return cls(index=int(d["index"]), uuid=d.get("uuid"))

    @classmethod
    def of(cls, gpu: GpuReading) -> GpuRef:
        return cls(index=gpu.index, uuid=gpu.uuid)


@dataclass(frozen=True)
class GpuRequest:
    """What a run asks for: nothing (CPU), these GPUs, or any `auto` free GPUs."""

    gpus: tuple[GpuRef, ...] = ()
    auto: int = 0
    notes: tuple[str, ...] = field(default=(), compare=False)
    """Things the user should be told (e.g. auto:N fell back to the CPU)."""

    @property
    def cpu(self) -> bool:
        return not self.gpus and not self.auto

    @property
    def count(self) -> int:
        return len(self.gpus) or self.auto

    def describe(self) -> str:
        if self.cpu:
            return "cpu"
        if self.auto:
            return f"auto:{self.auto}"
        return ",".join(str(g.index) for g in self.gpus)


def _usable(snapshot: GpuSnapshot) -> str | None:
    """Why no GPU can be used, or None."""
    if snapshot.driver is None:
        return snapshot.reason or "no NVIDIA driver"
    if not snapshot.gpus:
        return snapshot.reason or "the driver reports no GPUs"
    return None


def _resolve_one(token: str, snapshot: GpuSnapshot, spec: str) -> GpuReading:
    if token.isdigit():
        gpu = snapshot.by_index(int(token))
        if gpu is None:
            known = ", ".join(str(g.index) for g in snapshot.gpus)
            raise UserError(f"--gpus {spec}: there is no GPU {token} (this machine has GPUs {known}; "
                            "`clpbert gpus` lists them)")
        return gpu
    if token.upper().startswith(("GPU-", "MIG-")):
        matches = [g for g in snapshot.gpus if g.uuid and g.uuid.lower().startswith(token.lower())]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UserError(f"--gpus {spec}: no GPU has UUID {token} (`clpbert gpus` lists them)")
        raise UserError(f"--gpus {spec}: UUID prefix {token} matches {len(matches)} GPUs; give more of it")
    raise UserError(f"--gpus {spec}: {token!r} is not a GPU index or UUID "
                    "(use e.g. --gpus 0,1, --gpus GPU-8a3c..., or --gpus auto:2)")


def parse_gpu_spec(spec: str | None, snapshot: GpuSnapshot) -> GpuRequest:
    """Parse `--gpus`; UserError (one line) for unknown, duplicated or malformed ids."""
    text = (spec or "").strip()
    if not text or text.lower() == "cpu":
        return GpuRequest()
    why_none = _usable(snapshot)
    if text.lower().startswith("auto"):
        word, sep, n_text = text.partition(":")
        n_text = n_text.strip() if sep else "1"
        if word.strip().lower() != "auto" or not n_text.isdigit() or int(n_text) < 1:
            raise UserError(f"--gpus {text}: expected auto:N with N >= 1 (e.g. --gpus auto:2)")
        n = int(n_text)
        if why_none:
            return GpuRequest(notes=(f"--gpus {text}: no GPU available ({why_none}); running on the CPU",))
        if n > len(snapshot.gpus):
            raise UserError(f"--gpus {text}: this machine has only {len(snapshot.gpus)} GPU(s)")
        return GpuRequest(auto=n)
    tokens = [t.strip() for t in text.split(",")]
    if any(not t for t in tokens):
        raise UserError(f"--gpus {text}: empty entry; write GPU ids separated by commas, e.g. 0,1")
    if why_none:
        raise UserError(f"--gpus {text}: no GPU is usable here ({why_none}); leave out --gpus to run on "
                        "the CPU")
    refs: list[GpuRef] = []
    for token in tokens:
        ref = GpuRef.of(_resolve_one(token, snapshot, text))
        if ref in refs:
            raise UserError(f"--gpus {text}: GPU {ref.index} is listed twice")
        refs.append(ref)
    return GpuRequest(gpus=tuple(refs))
