"""The Hugging Face Inference API dialect: ``/models/{id}`` task routes."""
