"""The OpenAI dialect: ``/v1/chat/completions``, ``/v1/completions`` and ``/v1/models``."""
