"""The tutorial's snippets, as written for Hugging Face's serverless Inference API.

Two changes only, each marked ``# hubserve:``: the helper call that points huggingface_hub at the
server, and the OpenAI client's base URL. Everything else is the code a reader of the tutorial runs.
"""

import os

import numpy as np
from huggingface_hub import InferenceClient
from openai import OpenAI

import hubserve

hubserve.use_huggingface_hub(os.environ["HUBSERVE_URL"])  # hubserve: the one added line

client = InferenceClient(token=os.getenv("HF_TOKEN"))

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

# Chat completions through the OpenAI client
hf_client = OpenAI(
    base_url=os.environ["HUBSERVE_URL"] + "/v1/",  # hubserve: was https://api-inference.huggingface.co/v1/
    api_key=os.getenv("HF_TOKEN"),
)
chat = hf_client.chat.completions.create(
    model="mistralai/Mistral-7B-Instruct-v0.3",
    messages=[
        {"role": "system", "content": "You are a concise technical assistant."},
        {"role": "user", "content": "What is the difference between LSTM and Transformer?"},
    ],
    max_tokens=300,
    temperature=0.5,
)
print(chat.choices[0].message.content)

# Embeddings and a similarity matrix
sentences = [
    "The cat sits on the mat.",
    "A cat is resting on a rug.",
    "Interest rates rose again this quarter.",
]
embeddings = np.array(client.feature_extraction(sentences, model="BAAI/bge-small-en-v1.5"))
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
