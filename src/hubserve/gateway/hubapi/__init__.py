"""The part of the Hugging Face Hub API that huggingface_hub reads, served from the local hub."""
