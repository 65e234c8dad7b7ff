"""LLM condensation of cleaned reports: faithful one-sentence captions pass, invented findings and
chatter fall back to the cleaned text with the reason kept. The real model is tested in
tests/models/captioning."""

import pytest

from assets.captions.condense import (
    condense_conversation,
    condense_texts,
    validate_condensed,
)

REPORT = ("No acute cardiopulmonary abnormality. Stable mild cardiomegaly. The lungs are clear. "
          "No pleural effusion or pneumothorax.")


@pytest.mark.parametrize(("caption", "expected"), [
    ("Chest X-ray with stable mild cardiomegaly and clear lungs, no pleural effusion.", None),
    ("Chest X-ray with mild cardiomegaly and a large right pneumonia with consolidation.", "unsupported words"),
    ("Chest X-ray showing a pneumothorax and a pleural effusion.", "contradicts report"),
    ("Chest X-ray without pneumothorax or pleural effusion, mild cardiomegaly.", None),
    ("Here is a summary of the report: mild cardiomegaly.", "meta-text"),
    ("Cardiomegaly.", "length"),
    ("", "empty"),
])
def test_validate_condensed(caption, expected):
    reason = validate_condensed(caption, REPORT)
    assert (reason and reason.split(":")[0]) == expected, reason


class Scripted:
    model_id = "scripted"

    def __init__(self, replies):
        self.replies, self.conversations = replies, None

    def generate(self, conversations, *, max_new_tokens, temperature, top_p, seed):
        self.conversations = conversations
        return self.replies


def test_condense_texts_falls_back_to_the_cleaned_text():
    backend = Scripted(["Caption: Chest X-ray with stable mild cardiomegaly and clear lungs.",
                        "Chest X-ray showing a large left pneumothorax and rib fractures."])
    rows = condense_texts(backend, [REPORT, REPORT], "xray")
    assert [r["origin"] for r in rows] == ["llm", "native"]
    assert rows[0]["caption"] == "Chest X-ray with stable mild cardiomegaly and clear lungs."
    assert rows[1]["caption"] == REPORT and rows[1]["reason"].startswith("unsupported words")
    assert backend.conversations[0] == condense_conversation(REPORT, "xray")
    assert REPORT in backend.conversations[0][-1]["content"] and "an X-ray" in backend.conversations[0][-1]["content"]
