"""Caption targets from the labels samples carry: classes, multi-label combinations, "no finding"."""

import pytest

from assets.captions.targets import (
    NO_FINDING_TERMS,
    label_target,
    split_combination,
    targets_for_labels,
    targets_for_sources,
)
from assets.sources.catalog import ClassInfo, SourceSpec
from assets.sources.readers.records import multilabel_text

CXR = SourceSpec("cxr14", "xray", classes=(
    ClassInfo("cardiomegaly", "an enlarged cardiac silhouette", ("enlarged heart",)),
    ClassInfo("pleural effusion", "fluid at the lung base", ("effusion",)),
    ClassInfo("atelectasis", "collapsed lung", ()),
    ClassInfo("fibrosis and scarring", "reticular scarring", ()),  # a class whose own name holds " and "
))


def test_single_class():
    t = label_target(CXR, "atelectasis")
    assert t.kind == "class" and t.findings == (t.cls,) and t.siblings == CXR.classes and t.key == "cxr14/atelectasis"


def test_combination_as_records_write_it():
    label = multilabel_text(["pleural effusion", "cardiomegaly"])
    t = label_target(CXR, label)
    assert label == "cardiomegaly and pleural effusion" and t.kind == "combination" and t.label == label
    assert [f.name for f in t.findings] == ["cardiomegaly", "pleural effusion"]
    assert [c.name for c in t.siblings] == ["atelectasis", "fibrosis and scarring"]
    assert t.cls.description == "an enlarged cardiac silhouette; fluid at the lung base"


def test_class_names_holding_and_split_correctly():
    assert label_target(CXR, "fibrosis and scarring").kind == "class"
    parts = split_combination(CXR, multilabel_text(["fibrosis and scarring", "atelectasis", "cardiomegaly"]))
    assert [p.name for p in parts] == ["atelectasis", "cardiomegaly", "fibrosis and scarring"]
    assert split_combination(CXR, "cardiomegaly") is None


def test_no_finding():
    t = label_target(CXR, multilabel_text([]))
    assert t.kind == "no_finding" and t.label == "no finding"
    assert set(NO_FINDING_TERMS) <= set(t.cls.synonyms) and t.siblings == CXR.classes
    own = SourceSpec("s", "xray", classes=(ClassInfo("No Finding", "clear lungs and normal heart", ("normal chest",)),
                                           ClassInfo("pneumonia")))
    t = label_target(own, "No Finding")
    assert t.kind == "no_finding" and t.cls.synonyms[0] == "normal chest" and t.cls.description.startswith("clear")
    assert [c.name for c in t.siblings] == ["pneumonia"]


def test_unknown_labels_and_dedup():
    with pytest.raises(KeyError, match="neither a class"):
        label_target(CXR, "cardiomegaly and pneumonia")
    pairs = [(CXR, "cardiomegaly"), (CXR, "no finding"), (CXR, "cardiomegaly"), (CXR, "atelectasis and cardiomegaly")]
    assert [t.label for t in targets_for_labels(pairs)] == ["cardiomegaly", "no finding", "atelectasis and cardiomegaly"]
    assert [t.label for t in targets_for_sources([CXR])] == CXR.class_names()


def test_labels_the_catalog_does_not_name_become_classes():
    bare = SourceSpec("folders", "ct")  # an ImageFolder source: no classes in the catalog
    targets = targets_for_labels([(bare, "cyst and stone"), (bare, "cyst"), (bare, "stone"), (bare, "no finding")])
    assert [(t.label, t.kind) for t in targets] == [("cyst and stone", "combination"), ("cyst", "class"),
                                                   ("stone", "class"), ("no finding", "no_finding")]
    assert [t.kind for t in targets_for_labels([(bare, "a and b")])] == ["class"]  # parts never seen alone
    assert [c.name for c in targets[1].siblings] == ["cyst", "stone"]
    # Catalog classes absent from the data still count as siblings; new labels join them.
    mixed = targets_for_labels([(CXR, "cardiomegaly"), (CXR, "nodule")])
    assert mixed[1].kind == "class" and "atelectasis" in [c.name for c in mixed[1].siblings]
    assert "nodule" in [c.name for c in mixed[0].siblings]


def test_a_bare_class_joining_others_is_a_combination():
    flat = SourceSpec("flat", "xray", classes=(*CXR.classes, ClassInfo("atelectasis and cardiomegaly")))
    t = label_target(flat, "atelectasis and cardiomegaly")
    assert t.kind == "combination" and [f.name for f in t.findings] == ["atelectasis", "cardiomegaly"]
    assert "atelectasis and cardiomegaly" not in [c.name for c in t.siblings]
    assert label_target(CXR, "fibrosis and scarring").kind == "class"  # described by the catalog
