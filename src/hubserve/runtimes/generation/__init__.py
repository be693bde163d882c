"""Text generation: backends (llama.cpp, transformers), sampling, grammars and the batching engine."""
