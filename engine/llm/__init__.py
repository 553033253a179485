"""LLM-facing layer: the Translation Studio facade and the optional LLM service."""

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = ["errors", "translation_studio", "unified_llm_service"]
