"""Caption prompts: what the request holds, how it varies by caption index, which examples it uses,
and the requests for multi-label combinations and normal studies."""

from assets.captions.prompts import (
    ASPECTS,
    EXAMPLES,
    MODALITY_NOUNS,
    NORMAL_ASPECTS,
    NORMAL_EXAMPLES,
    PROMPT_VERSION,
    SYSTEM,
    build_conversation,
    build_target_conversation,
    prompt_hash,
    usable_examples,
)
from assets.captions.targets import label_target
from assets.sources.catalog import ClassInfo, SourceSpec

PNEUMONIA = ClassInfo("pneumonia", "A chest radiograph with a patchy airspace opacity in one lung.",
                      ("consolidation", "lung infection"))
XRAY_CLASSES = (ClassInfo("normal", "Clear lungs."), PNEUMONIA)


def test_request_names_class_description_and_modality():
    conv = build_conversation("xray", PNEUMONIA, 0, XRAY_CLASSES)
    assert conv[0] == {"role": "system", "content": SYSTEM}
    assert [m["role"] for m in conv] == ["system", "user", "assistant", "user", "assistant", "user"]
    request = conv[-1]["content"]
    assert "pneumonia" in request and "a chest radiograph with a patchy airspace opacity in one lung" in request
    assert MODALITY_NOUNS["xray"] in request and '"pneumonia"' in request and ASPECTS[0] in request


def test_requests_vary_by_index_and_use_synonyms():
    requests = [build_conversation("xray", PNEUMONIA, i, XRAY_CLASSES)[-1]["content"] for i in range(10)]
    assert len(set(requests)) == 10
    assert '"consolidation"' in requests[2] and '"lung infection"' in requests[5] and '"pneumonia"' in requests[3]
    # Worked examples rotate with the index.
    first_examples = {build_conversation("xray", PNEUMONIA, i, XRAY_CLASSES)[2]["content"] for i in range(4)}
    assert len(first_examples) == 4


def test_shared_parts_come_before_the_class_request():
    a = build_conversation("xray", PNEUMONIA, 0, XRAY_CLASSES)
    b = build_conversation("xray", XRAY_CLASSES[0], 0, XRAY_CLASSES)
    assert a[:-1] == b[:-1] and a[-1] != b[-1]


def test_examples_avoid_the_sources_own_classes():
    classes = (ClassInfo("pleural effusion"), ClassInfo("pneumothorax", synonyms=("collapsed lung",)))
    names = [ex[0] for ex in usable_examples("xray", classes)]
    assert "pleural effusion" not in names and "pneumothorax" not in names and "rib fracture" in names
    for i in range(4):
        text = " ".join(m["content"] for m in build_conversation("xray", classes[0], i, classes)[1:-1])
        assert "pleural effusion" not in text.lower()
    assert {m for m in EXAMPLES} == set(MODALITY_NOUNS)


def test_version_and_hash():
    assert PROMPT_VERSION.startswith("captions-v")
    assert prompt_hash() == prompt_hash() and len(prompt_hash()) == 16


def test_combination_request_names_every_finding():
    source = SourceSpec("cxr", "xray", classes=(ClassInfo("cardiomegaly", "An enlarged heart.", ("enlarged heart",)),
                                                ClassInfo("pleural effusion", "Fluid at the lung base.", ("effusion",))))
    target = label_target(source, "cardiomegaly and pleural effusion")
    requests = [build_target_conversation(target, i)[-1]["content"] for i in range(3)]
    assert requests[0].startswith("Caption an X-ray of cardiomegaly and pleural effusion (an enlarged heart; fluid")
    assert '"cardiomegaly" and "pleural effusion"' in requests[0]
    assert '"enlarged heart" and "effusion"' in requests[2]  # synonyms rotate per finding
    examples = " ".join(m["content"] for m in build_target_conversation(target, 0)[1:-1]).lower()
    assert "pleural effusion" not in examples  # worked examples avoid the source's classes


def test_no_finding_request_asks_for_a_normal_study():
    target = label_target(SourceSpec("cxr", "xray", classes=(ClassInfo("cardiomegaly"),)), "no finding")
    conv = build_target_conversation(target, 1)
    assert conv[2] == {"role": "assistant", "content": NORMAL_EXAMPLES["xray"][1]}
    request = conv[-1]["content"]
    assert request.startswith("Caption an X-ray of a normal study (") and NORMAL_ASPECTS[1] in request
    assert "cardiomegaly" not in " ".join(m["content"] for m in conv).lower()
