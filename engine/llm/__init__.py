"""LLM-facing layer: the Translation Studio facade and the optional LLM service."""
