"""The tutorial's retry example, written with hubserve's SDK: its ``call_with_retry`` loop is gone.

The client waits as the server says (``estimated_time`` while the model loads, ``Retry-After`` on a 429)
and logs each wait; the server and the token come from ``HUBSERVE_URL`` and ``HF_TOKEN``.
"""

import logging

import hubserve

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

client = hubserve.InferenceClient()
result = client.text_generation(
    "The three primary colours are",
    model="mistralai/Mistral-7B-Instruct-v0.3",
    max_new_tokens=20,
)
print(result)
