"""EndpointSpec: an Inference Endpoint as stored: its model, compute, scaling, access type and wish to run."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

AccessType = Literal["public", "authenticated", "private"]
ScalingMetric = Literal["pendingRequests", "hardwareUsage"]
# A DNS label, as Inference Endpoints' names: lower-case letters, digits and '-', 1 to 32 characters.
ENDPOINT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?")
INSTANCE_SIZE = re.compile(r"x([1-9][0-9]*)")


class EndpointSpec(BaseModel):
    """What a user asked an endpoint to be; the controller makes the scheduler's runners match it."""

    namespace: str
    name: str
    repository: str  # the model id in the hub
    revision: str  # the hub revision it was deployed at
    task: str
    framework: str = "pytorch"
    accelerator: str = "cpu"
    instance_type: str = "local"
    instance_size: str = "x1"
    vendor: str = "local"
    region: str = "local"
    min_replica: int = Field(default=1, ge=0)
    max_replica: int = Field(default=1, ge=1)
    scale_to_zero_timeout_min: int | None = None
    scaling_metric: ScalingMetric = "pendingRequests"
    scaling_threshold: float | None = None
    type: AccessType = "authenticated"
    env: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    paused: bool = False

    @property
    def cpu_threads(self) -> int | None:
        """Compute threads for each replica of a CPU instance: ``xK`` is K cores; None on GPUs."""
        size = INSTANCE_SIZE.fullmatch(self.instance_size)
        return int(size.group(1)) if size and self.accelerator == "cpu" else None
