"""The TGI dialect: ``/generate``, ``/generate_stream`` and text-generation on the HF routes."""
