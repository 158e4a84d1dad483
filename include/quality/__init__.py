"""Quality scoring: LLM-as-judge (rubric prompts, OpenAI-compatible client, verdict cache,
bias controls) and classifier scoring (Hugging Face sequence classification / regression)."""
