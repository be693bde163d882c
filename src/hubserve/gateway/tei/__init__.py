"""The TEI dialect: text-embeddings-inference's embed, rerank, predict, tokenize and decode routes."""
