"""hubserve: a self-hosted Inference API over the Hugging Face, TGI/TEI and OpenAI protocols."""

__version__ = "0.1.0"

__all__ = ["__version__"]
