"""The training config's ``planner`` section: the GPU memory planner and its GPU catalog."""

from __future__ import annotations

from pydantic import Field, model_validator

from include.config.base import _Strict


class GpuSpec(_Strict):
    """One GPU offering: per-device memory as ``nvidia-smi`` reports it, and how to get it."""

    name: str = Field(..., description="catalog name, e.g. L4-24GB")
    memory_mib: int = Field(..., ge=1024, description="total device memory as nvidia-smi reports it")
    bf16: bool = Field(True, description="the GPU computes in bfloat16")
    sagemaker_instance: str | None = Field(
        None, description="smallest SageMaker training instance with this GPU"
    )
    gpus_per_instance: int = Field(1, ge=1, description="GPUs of that instance")
    k8s_gpu_product: str | None = Field(None, description="value of the nvidia.com/gpu.product node label")


class PlannerSettings(_Strict):
    """GPU memory planner and its catalog."""

    enabled: bool = Field(True, description="false: no memory plan (sagemaker then needs instance_type)")
    margin: float = Field(0.10, ge=0.0, lt=0.9, description="keep this share of device memory free")
    cuda_overhead_mib: int = Field(
        1024, ge=0, description="CUDA context, cuBLAS workspace, allocator slack, added to the estimate"
    )
    gpu: str | None = Field(None, description="force this catalog entry (fail if it does not fit)")
    catalog: list[GpuSpec] = Field(
        [], description="preference order, smallest/cheapest first: the first entry that fits is picked"
    )

    @model_validator(mode="after")
    def _gpu_in_catalog(self):
        if self.gpu is not None and self.gpu not in {g.name for g in self.catalog}:
            raise ValueError(
                f"planner.gpu {self.gpu!r} is not in the catalog: {', '.join(g.name for g in self.catalog)}"
            )
        return self
