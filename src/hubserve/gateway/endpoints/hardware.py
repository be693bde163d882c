"""This machine as Inference Endpoints' hardware catalogue: one vendor, one region, its CPUs (and GPUs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VENDOR = "local"
REGION = "local"
CPU_INSTANCE = "local-cpu"
GPU_INSTANCE = "local-gpu"
_NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class Compute:
    """One instance a replica may run on: ``xK`` is K CPU cores (or K GPUs) of this machine."""

    accelerator: str
    instance_type: str
    instance_size: str
    cpus: int
    accelerators: int
    memory_gb: float
    max_replicas: int

    @property
    def id(self) -> str:
        return f"{self.accelerator}-{self.instance_type}-{self.instance_size}"

    def wire(self) -> dict[str, Any]:
        """The compute as ``GET /v2/provider/{namespace}`` lists it."""
        return {
            "id": self.id,
            "accelerator": self.accelerator,
            "instanceType": self.instance_type,
            "instanceSize": self.instance_size,
            "architecture": os.uname().machine,
            "numAccelerators": self.accelerators,
            "numCpus": self.cpus,
            "memoryGb": self.memory_gb,
            "gpuMemoryGb": None,
            "pricePerHour": 0.0,
            "status": "available",
            "quota": {"maxAccelerators": self.max_replicas * self.accelerators, "usedAccelerators": 0},
        }


def computes(memory_budget_bytes: int, cpus: int | None = None, gpus: int | None = None) -> list[Compute]:
    """CPU computes sized x1, x2, x4, ... up to the machine's cores; GPU ones when GPUs are present."""
    cores = cpus if cpus is not None else len(os.sched_getaffinity(0))
    found = gpus if gpus is not None else _gpu_count()
    memory_gb = memory_budget_bytes / 2**30
    out = []
    size = 1
    while size <= cores:
        out.append(
            Compute(
                "cpu", CPU_INSTANCE, f"x{size}", size, size, round(memory_gb * size / cores, 1), cores // size
            )
        )
        size *= 2
    size = 1
    while size <= found:
        out.append(Compute("gpu", GPU_INSTANCE, f"x{size}", cores, size, round(memory_gb, 1), found // size))
        size *= 2
    return out


def catalogue(memory_budget_bytes: int) -> dict[str, Any]:
    """The body of ``GET /v2/provider/{namespace}``."""
    listed = [c.wire() for c in computes(memory_budget_bytes)]
    return {"vendors": [{"name": VENDOR, "regions": [{"name": REGION, "computes": listed}]}]}


def _gpu_count() -> int:
    try:
        return sum(1 for _ in _NVIDIA_GPUS.iterdir())
    except OSError:
        return 0
