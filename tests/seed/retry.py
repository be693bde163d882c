"""The tutorial's retry loop for cold models and rate limits, and its call, as written for HF's API.

The one added line is marked ``# hubserve:``.
"""

import os
import time

from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

import hubserve

hubserve.use_huggingface_hub(os.environ["HUBSERVE_URL"])  # hubserve: the one added line


def call_with_retry(fn, *args, max_retries=5, backoff=2.0, **kwargs):
    """Call fn, waiting and retrying while the model loads or the rate limit is hit."""
    for attempt in range(max_retries):
        try:
            return fn(*args, **kwargs)
        except HfHubHTTPError as e:
            message = str(e)
            if "429" in message:
                wait = backoff * (2**attempt)
                print(f"Rate limited; retrying in {wait:.0f}s")
                time.sleep(wait)
            elif "503" in message or "loading" in message.lower():
                print(f"Model loading; retrying in {backoff:.0f}s")
                time.sleep(backoff)
            else:
                raise
    raise RuntimeError(f"Gave up after {max_retries} attempts")


client = InferenceClient(token=os.getenv("HF_TOKEN"))
result = call_with_retry(
    client.text_generation,
    "The three primary colours are",
    model="mistralai/Mistral-7B-Instruct-v0.3",
    max_new_tokens=20,
)
print(result)
