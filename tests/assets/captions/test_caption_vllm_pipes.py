"""class_captions with `backend: vllm` as the documented command runs it (`python -m pipelines.run -c
pipelines/configs/small.yaml -c pipelines/configs/vllm.yaml`): medpairs_job's caption step with that
run config, the real vLLM server started out of process from .venv-vllm through Dagster Pipes, its log
in the run's log, validated captions for every label of a small catalog, and the server stopped when
the step ends."""

import subprocess
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from pipelines.definitions import build_definitions
from pipelines.environment import load_environment
from tests.assets.captions.test_caption_defs import CATALOG  # the same two-class source

CONFIGS = Path(__file__).resolve().parents[3] / "pipelines" / "configs"


@pytest.mark.vllm
def test_medpairs_job_captions_through_a_vllm_server_with_the_vllm_run_config(tmp_path, vllm_python, model_cache):
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    part = tmp_path / "raw_samples" / "samples" / "cxr" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"source": "cxr", "modality": "xray", "label": label, "kind": "classification",
                                          "split": "train"} for label in ("cardiomegaly", "pleural effusion")]), part)
    (part.parent / "_parts.json").write_text('{"parts": ["part-00000.parquet"]}')
    resources = {**load_environment({}).resources, "storage": StorageResource(root=str(tmp_path)),
                 "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml"))}
    run_config = dg.config_from_files([str(CONFIGS / "small.yaml"), str(CONFIGS / "vllm.yaml")])
    # vllm.yaml's engine settings as they are (its KV cache size too); only where this machine keeps things differs.
    vllm = run_config["resources"]["caption_llm"]["config"]["vllm"]
    vllm.update(cache_dir=str(model_cache), python=str(vllm_python))
    # 8 captions of each label: 16 prompts in flight at once, more prompt tokens than one engine step
    # takes (2048), so a prefill split between steps would fail the seeded requests on the CPU build.
    captions = run_config["ops"]["class_captions"]
    captions["config"]["captions_per_class"] = 8
    job = build_definitions(resources).resolve_job_def("medpairs_job")

    with dg.instance_for_test() as instance:
        result = job.execute_in_process(run_config={**run_config, "ops": {"class_captions": captions}},
                                        instance=instance, asset_selection=[dg.AssetKey("class_captions")])
        messages = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]

    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    meta = result.asset_materializations_for_node("class_captions")[0].metadata
    assert meta["model_id"].value == "SmolLM2-135M-Instruct.Q4_1.gguf"
    rejected = meta["rejected_by_reason"].value
    assert meta["generated"].value >= 16 and 0 < meta["pass_rate"].value <= 1
    assert meta["llm_fraction"].value > 0, f"no LLM caption passed validation: {rejected}"  # templates alone: no
    rows = pq.read_table(tmp_path / "captions" / "class_captions.parquet").to_pylist()
    assert {r["label"] for r in rows if r["status"] == "valid" and r["origin"] == "llm"} == {
        "cardiomegaly", "pleural effusion"}
    # The server's own log came back through Pipes, and the server is gone with the step.
    assert any(m.startswith("vllm: ") for m in messages)
    assert any(m.startswith("vLLM server ready after") for m in messages)
    left = subprocess.run(["pgrep", "-f", str(model_cache)], check=False, capture_output=True,
                          text=True).stdout
    assert not left.strip(), f"vLLM processes left running: {left}"
