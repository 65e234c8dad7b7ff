"""The evaluation suite: the built-in suite.yaml, prompt ensembles from the catalog's classes, and the
tasks built from curated pairs."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from report_helpers import SOURCES

from assets.report.suite import Suite, build_tasks, load_suite, prompts_for_class
from assets.shared import layout
from assets.sources.catalog import ClassInfo, SourceSpec


def test_builtin_suite_has_templates_for_every_modality():
    suite = load_suite()
    assert suite.split == "test" and suite.sources == () and suite.paper_benchmark is None
    for modality in ("xray", "ct", "mri", "ultrasound", "pathology", "fundus"):
        templates = suite.templates_for("any", modality)
        assert len(templates) >= 4 and all("{}" in t for t in templates)
        assert "this is an image of {}." in templates  # the defaults follow the modality's own
    assert "a chest X-ray showing {}." in suite.templates_for("any", "xray")


def test_suite_file_is_validated(tmp_path):
    (tmp_path / "s.yaml").write_text("split: val\ntemplates: {default: ['no placeholder']}\n")
    with pytest.raises(ValueError, match="no placeholder"):
        load_suite(str(tmp_path / "s.yaml"))
    (tmp_path / "t.yaml").write_text("splitt: test\n")
    with pytest.raises(ValueError, match="splitt"):
        load_suite(str(tmp_path / "t.yaml"))
    (tmp_path / "u.yaml").write_text("split: val\nsource_templates: {knee: ['a knee X-ray of {}.']}\n")
    suite = load_suite(str(tmp_path / "u.yaml"))
    assert suite.split == "val" and suite.templates_for("knee", "xray") == ("a knee X-ray of {}.",)


def test_prompts_fill_templates_with_name_and_synonyms_then_the_description():
    cls = ClassInfo("pneumonia", "A patchy opacity in one lung.", ("consolidation",))
    templates = ("a chest X-ray showing {}.", "this is an image of {}.")
    assert prompts_for_class(cls, templates) == [
        "a chest X-ray showing pneumonia.", "this is an image of pneumonia.",
        "a chest X-ray showing consolidation.", "this is an image of consolidation.",
        "A patchy opacity in one lung."]
    assert prompts_for_class(cls, templates, synonyms=False, descriptions=False) == [
        "a chest X-ray showing pneumonia.", "this is an image of pneumonia."]


def test_tasks_from_curated_pairs(pairs_root):
    tasks = build_tasks(load_suite(), SOURCES, str(pairs_root / layout.CURATED_PAIRS))
    by_name = {t.source: t for t in tasks.zero_shot}
    assert set(by_name) == {"toy_xray", "toy_ct"}
    xray = by_name["toy_xray"]
    assert xray.class_names == ["left lesion", "right lesion"] and len(xray.images) == 12
    assert xray.labels.tolist() == [0] * 6 + [1] * 6
    assert "a chest X-ray showing left opacity." in xray.prompts[0]
    assert xray.prompts[0][-1] == "A chest radiograph with a bright lesion in the left lung."
    assert "a CT scan showing upper mass." in by_name["toy_ct"].prompts[0]
    [reports] = tasks.retrieval
    assert reports.source == "toy_reports" and len(reports.images) == len(reports.captions) == 12
    assert tasks.notes == []


def test_listed_sources_labels_outside_the_classes_and_missing_sources(pairs_root):
    narrow = [SourceSpec("toy_xray", "xray", classes=(ClassInfo("left lesion"), ClassInfo("other")))]
    suite = Suite(sources=("toy_xray", "nowhere"), templates={"default": ("{}",)})
    tasks = build_tasks(suite, narrow, str(pairs_root / layout.CURATED_PAIRS))
    [task] = tasks.zero_shot
    assert len(task.images) == 6 and task.skipped == 6  # "right lesion" is not a candidate class
    assert task.prompts == [["left lesion"], ["other"]]
    assert tasks.notes == ["nowhere: no samples in the 'test' split"]
    # a source the catalog does not list offers the labels present in the split
    tasks = build_tasks(Suite(sources=("toy_ct",)), [], str(pairs_root / layout.CURATED_PAIRS))
    assert tasks.zero_shot[0].class_names == ["lower mass", "middle mass", "upper mass"]


def test_a_suite_gives_a_source_its_own_prompts_per_class_and_a_headline_metric(pairs_root, tmp_path):
    (tmp_path / "s.yaml").write_text("""\
class_prompts:
  toy_xray:
    left lesion: [A bright spot in the left lung., Left lung lesion.]
    right lesion: [A bright spot in the right lung.]
  toy_ct: {upper mass: [An upper mass.]}
metrics: {toy_xray: auc}
""")
    suite = load_suite(str(tmp_path / "s.yaml"))
    tasks = build_tasks(suite, SOURCES, str(pairs_root / layout.CURATED_PAIRS))
    [xray] = tasks.zero_shot
    assert xray.prompts == [["A bright spot in the left lung.", "Left lung lesion."], ["A bright spot in the right lung."]]
    assert xray.headline_metric == "auc" and suite.metric_for("toy_ct") == "top1"
    assert "toy_ct: the suite's class_prompts name no prompts for class(es) ['middle mass', 'lower mass']" in tasks.notes
    assert suite.to_dict()["metrics"] == {"toy_xray": "auc"}
    (tmp_path / "bad.yaml").write_text("metrics: {toy_xray: f1}\nclass_prompts: {toy_ct: {upper mass: []}}\n")
    with pytest.raises(ValueError, match="f1"):
        load_suite(str(tmp_path / "bad.yaml"))
    (tmp_path / "bad.yaml").write_text("class_prompts: {toy_ct: {upper mass: []}}\n")
    with pytest.raises(ValueError, match="toy_ct"):
        load_suite(str(tmp_path / "bad.yaml"))


def test_a_source_mixing_modalities_is_scored_per_modality_against_all_its_classes(tmp_path):
    # RadImageNet-like test split: CT and MRI samples of one source, labels unique to each modality.
    rows = [("c1", "ct", "CT lung nodule"), ("c2", "ct", "CT lung normal"), ("m1", "mri", "MRI knee normal"),
            ("m2", "mri", "MRI knee normal"), ("m3", "mri", "CT lung nodule")]
    pq.write_table(pa.table({
        "sample_id": [r[0] for r in rows], "source": ["radimagenet"] * 5, "modality": [r[1] for r in rows],
        "label": [r[2] for r in rows], "split": ["test"] * 5, "image": [{"bytes": r[0].encode()} for r in rows],
        "captions": [[] for _ in rows]}), tmp_path / "pairs.parquet")
    spec = SourceSpec("radimagenet", "ct", classes=tuple(ClassInfo(n) for n in
                                                         ("CT lung nodule", "CT lung normal", "MRI knee normal")))
    tasks = build_tasks(Suite(templates={"ct": ("a CT of {}.",), "mri": ("an MRI of {}.",)}), [spec],
                        str(tmp_path / "pairs.parquet"))
    by_name = {t.source: t for t in tasks.zero_shot}
    assert set(by_name) == {"radimagenet/ct", "radimagenet/mri"}
    ct, mri = by_name["radimagenet/ct"], by_name["radimagenet/mri"]
    assert (ct.modality, ct.sample_ids, ct.labels.tolist()) == ("ct", ["c1", "c2"], [0, 1])
    assert (mri.modality, mri.sample_ids, mri.labels.tolist()) == ("mri", ["m1", "m2", "m3"], [2, 2, 0])
    assert ct.class_names == mri.class_names == spec.class_names()  # every class a candidate, as UniMed scores
    assert mri.prompts[0] == ["an MRI of CT lung nodule."]  # the modality's own templates
