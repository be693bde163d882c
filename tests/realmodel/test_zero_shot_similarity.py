"""Zero-shot classification on a real embedding model ranks the obvious label first on a labelled set."""

from __future__ import annotations

import pytest
from huggingface_hub import InferenceClient

from tests.conftest import MINILM

pytestmark = pytest.mark.realmodel

LABELS = ["sports", "cooking", "finance", "technology", "politics", "health"]
# One obvious topic each; kept apart from the sentences the default hypothesis was chosen on.
LABELLED = [
    ("The striker scored twice in the final minutes of the match.", "sports"),
    ("Whisk the eggs with sugar, then fold in the flour and bake for twenty minutes.", "cooking"),
    ("The central bank raised interest rates to curb inflation.", "finance"),
    ("The new phone ships with a faster chip and a better camera.", "technology"),
    ("The senate passed the bill after a long debate between the two parties.", "politics"),
    ("Regular exercise and a balanced diet lower the risk of heart disease.", "health"),
    ("The goalkeeper saved a penalty in extra time.", "sports"),
    ("Roast the chicken with lemon and thyme until the skin is crisp.", "cooking"),
    ("Her pension fund lost value when bond yields rose.", "finance"),
    ("The operating system update patches a security hole in the kernel.", "technology"),
    ("The mayor lost the election to a candidate from the rival party.", "politics"),
    ("The nurse took his blood pressure and checked his pulse.", "health"),
]


def _scores(client: InferenceClient, text: str, multi: bool) -> dict[str, float]:
    out = client.zero_shot_classification(text, LABELS, multi_label=multi)
    return {o.label: o.score for o in out}


@pytest.fixture(scope="module")
def client(server: str) -> InferenceClient:
    return InferenceClient(model=f"{server}/models/{MINILM}", token="unused")


def test_single_label_ranks_the_obvious_label_first(client: InferenceClient) -> None:
    wrong = []
    for text, gold in LABELLED:
        scores = _scores(client, text, multi=False)
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-4)
        if max(scores, key=scores.__getitem__) != gold:
            wrong.append((text, scores))
    assert wrong == []


def test_multi_label_scores_each_label_on_its_own_in_the_same_order(client: InferenceClient) -> None:
    golds, others = [], []
    for text, gold in LABELLED:
        multi = _scores(client, text, multi=True)
        single = _scores(client, text, multi=False)
        assert max(multi, key=multi.__getitem__) == gold, (text, multi)
        assert sorted(multi, key=multi.__getitem__) == sorted(single, key=single.__getitem__)
        golds.append(multi[gold])
        others.extend(v for k, v in multi.items() if k != gold)
    # Independent scores: a fitting label is likely, the rest unlikely, and they need not sum to 1.
    assert sum(golds) / len(golds) > 0.5
    assert sum(others) / len(others) < 0.2


def test_a_template_the_caller_gives_is_used(client: InferenceClient) -> None:
    text = LABELLED[0][0]
    default = client.zero_shot_classification(text, LABELS)
    same = client.zero_shot_classification(text, LABELS, hypothesis_template="This text is about {}.")
    other = client.zero_shot_classification(text, LABELS, hypothesis_template="{{{}}}")
    assert [(o.label, round(o.score, 5)) for o in default] == [(o.label, round(o.score, 5)) for o in same]
    assert [round(o.score, 5) for o in other] != [round(o.score, 5) for o in default]
