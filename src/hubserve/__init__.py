"""hubserve: a self-hosted Inference API over the Hugging Face, TGI/TEI and OpenAI protocols."""

from hubserve.client.hf_hub import use_huggingface_hub

__version__ = "0.1.0"

__all__ = ["__version__", "use_huggingface_hub"]
