"""The reward model trained by ``method=reward`` as the reward function of GRPO / RLOO."""

from __future__ import annotations


class RewardModelScorer:
    """A trained reward model as a GRPO/RLOO reward function: ``(prompts, completions) -> [float]``.

    Prompt and completion (conversational) are rendered with the reward model's tokenizer
    chat template, truncated from the left to ``max_length`` (the end of the answer is
    what the score head reads) and scored in batches.
    """

    __name__ = "reward_model"

    def __init__(self, model, tokenizer, max_length: int = 1024, batch_size: int = 8):
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.batch_size = max_length, batch_size

    def _text(self, prompt, completion) -> str:
        if isinstance(prompt, list):
            msgs = list(prompt) + (
                completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
            )
            return self.tokenizer.apply_chat_template(msgs, tokenize=False)
        return f"{prompt}{completion}"

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        import torch

        texts = [self._text(p, c) for p, c in zip(prompts, completions, strict=True)]
        scores: list[float] = []
        device = next(self.model.parameters()).device
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i : i + self.batch_size]
            enc = self.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
                add_special_tokens=False,
            )
            enc = {k: v.to(device) for k, v in enc.items()}
            with torch.inference_mode():
                logits = self.model(**enc).logits[:, 0]
            scores.extend(float(x) for x in logits.float().cpu())
        return scores
