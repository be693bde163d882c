"""The tutorial's snippets, written with hubserve's SDK: one import changed, and no retry loop anywhere.

The server and the token come from ``HUBSERVE_URL`` and ``HF_TOKEN``, so the client takes no arguments.
"""

import numpy as np

from hubserve import InferenceClient

client = InferenceClient()

# Text generation
response = client.text_generation(
    prompt="Explain gradient descent in one paragraph, as if to a software engineer.",
    model="mistralai/Mistral-7B-Instruct-v0.3",
    max_new_tokens=200,
    temperature=0.7,
    do_sample=True,
)
print(response)

# Streaming: tokens arrive as they are generated
streamed = []
for token in client.text_generation(
    "Write a short poem about AI:",
    model="mistralai/Mistral-7B-Instruct-v0.3",
    max_new_tokens=60,
    stream=True,
):
    print(token, end="", flush=True)
    streamed.append(token)
print()

# Chat completions, in the OpenAI spelling (no second client needed)
chat = client.chat.completions.create(
    model="mistralai/Mistral-7B-Instruct-v0.3",
    messages=[
        {"role": "system", "content": "You are a concise technical assistant."},
        {"role": "user", "content": "What is the difference between LSTM and Transformer?"},
    ],
    max_tokens=300,
    temperature=0.5,
)
print(chat.choices[0].message.content)

# Embeddings (already a numpy array) and a similarity matrix
sentences = [
    "The cat sits on the mat.",
    "A cat is resting on a rug.",
    "Interest rates rose again this quarter.",
]
embeddings = client.feature_extraction(sentences, model="BAAI/bge-small-en-v1.5")
normalized = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
similarity = normalized @ normalized.T
print(np.round(similarity, 3))

# Sentiment analysis
sentiment = client.text_classification(
    "I absolutely love this new phone, the battery lasts forever!",
    model="distilbert-base-uncased-finetuned-sst-2-english",
)
print(sentiment)

# Zero-shot classification
zero_shot = client.zero_shot_classification(
    "The new graphics card doubles training throughput for large models.",
    candidate_labels=["technology", "sports", "politics"],
    model="facebook/bart-large-mnli",
)
print(zero_shot)

# Named entity recognition
entities = client.token_classification(
    "Hugging Face was founded in New York City by Clement Delangue and Julien Chaumond.",
    model="dslim/bert-base-NER",
)
for entity in entities:
    print(entity.entity_group, entity.word, round(entity.score, 3))
