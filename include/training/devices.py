"""Devices and dtypes: CUDA or CPU, the compute / weights dtypes of ``train.precision``, and
whether 4-bit (QLoRA) works here.

bitsandbytes >= 0.49 also has a CPU backend for 4-bit (quantize/dequantize and the NF4 GEMV),
so QLoRA runs on CPU as well (slowly); without CUDA and without a working CPU backend it fails
before loading with "QLoRA needs a CUDA GPU". Everything heavy is imported inside functions.
"""

from __future__ import annotations

from include.config.training import TrainingConfig


class QLoRAUnsupported(RuntimeError):
    """4-bit loading cannot work on this machine (no CUDA GPU and no bitsandbytes CPU backend)."""


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def cpu_has_native_bf16() -> bool:
    try:
        from bitsandbytes.functional import has_avx512bf16

        return bool(has_avx512bf16())
    except Exception:  # noqa: BLE001
        return False


def compute_dtype_name(precision: str) -> str:
    """``bfloat16`` / ``float16`` / ``float32`` for the ``train.precision`` setting."""
    if precision == "bf16":
        return "bfloat16"
    if precision == "fp16":
        return "float16"
    if precision == "fp32":
        return "float32"
    if has_cuda():
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def weights_dtype_name(cfg: TrainingConfig) -> str:
    """dtype the (non-quantized) base weights are loaded in."""
    if cfg.train.weights_dtype != "auto":
        return cfg.train.weights_dtype
    if cfg.peft == "none":
        return "float32"  # fp32 master weights, bf16/fp16 autocast: standard mixed precision
    return compute_dtype_name(cfg.train.precision)


def qlora_compute_dtype_name(cfg: TrainingConfig) -> str:
    setting = cfg.quantization.compute_dtype
    if setting != "auto":
        return setting
    if has_cuda():
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_native_bf16() else "float32"


def check_qlora_supported() -> str:
    """``"cuda"`` or ``"cpu"`` where 4-bit works; raises :class:`QLoRAUnsupported` otherwise.

    Probed by quantizing and dequantizing a small tensor with bitsandbytes, before any model
    is loaded.
    """
    if has_cuda():
        return "cuda"
    try:
        import torch
        from bitsandbytes.functional import dequantize_4bit, quantize_4bit

        x = torch.linspace(-1, 1, 128, dtype=torch.float32).reshape(2, 64)
        q, state = quantize_4bit(x, quant_type="nf4", compress_statistics=True)
        y = dequantize_4bit(q, state)
        if not torch.allclose(x, y, atol=0.2):
            raise RuntimeError("4-bit round trip is wrong")
    except Exception as exc:  # noqa: BLE001
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as pkg_version

        try:
            version = pkg_version("bitsandbytes")
        except PackageNotFoundError:
            version = "not installed"
        raise QLoRAUnsupported(
            f"QLoRA needs a CUDA GPU: no CUDA device here and bitsandbytes ({version}) has no working 4-bit CPU "
            f"backend ({type(exc).__name__}: {exc}). Use peft=lora, or run on a GPU backend."
        ) from None
    return "cpu"
