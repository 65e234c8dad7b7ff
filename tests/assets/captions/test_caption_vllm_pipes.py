"""class_captions with `backend: vllm`: the real vLLM server started out of process from .venv-vllm
through Dagster Pipes, its log in the run's log, validated captions for every label of a small
catalog, and the server stopped when the step ends."""

import subprocess

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.captions import defs as caption_defs
from assets.captions.resource import CaptionBackendResource, VLLMOptions
from assets.shared.storage import StorageResource
from assets.sources.resource import SourceCatalogResource
from tests.assets.captions.test_caption_defs import CATALOG  # the same two-class source


@pytest.mark.vllm
def test_class_captions_through_a_vllm_server_in_its_own_environment(tmp_path, vllm_python, model_cache):
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    part = tmp_path / "raw_samples" / "samples" / "cxr" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"source": "cxr", "modality": "xray", "label": label, "kind": "classification",
                                          "split": "train"} for label in ("cardiomegaly", "pleural effusion")]), part)
    (part.parent / "_parts.json").write_text('{"parts": ["part-00000.parquet"]}')
    vllm = VLLMOptions(enforce_eager=True, max_model_len=1024, gpu_memory_utilization=0.08,
                       # Free text, as pipelines/configs/vllm.yaml: under the JSON schema SmolLM2-135M
                       # answers with the bare class name ({"caption": "Cardiomegaly."}), every one too short.
                       structured_output=False,
                       cache_dir=str(model_cache), engine_options={"max_num_seqs": 8}, python=str(vllm_python))
    resources = {"storage": StorageResource(root=str(tmp_path)),
                 "catalog": SourceCatalogResource(path=str(tmp_path / "catalog.yaml")),
                 "caption_llm": CaptionBackendResource(backend="vllm", vllm=vllm),
                 "pipes_subprocess_client": dg.PipesSubprocessClient()}
    config = {"ops": {"class_captions": {"config": {"captions_per_class": 2, "max_rounds": 3}}}}
    instance = dg.DagsterInstance.ephemeral()

    result = dg.materialize([caption_defs.class_captions], resources=resources, run_config=config, instance=instance)

    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    meta = result.asset_materializations_for_node("class_captions")[0].metadata
    assert meta["model_id"].value == "SmolLM2-135M-Instruct.Q4_1.gguf"
    rejected = meta["rejected_by_reason"].value
    assert meta["generated"].value >= 4
    assert meta["llm_fraction"].value > 0, f"no LLM caption passed validation: {rejected}"  # templates alone: no
    rows = pq.read_table(tmp_path / "captions" / "class_captions.parquet").to_pylist()
    assert {r["label"] for r in rows if r["status"] == "valid"} == {"cardiomegaly", "pleural effusion"}
    # The server's own log came back through Pipes, and the server is gone with the step.
    messages = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]
    assert any(m.startswith("vllm: ") for m in messages)
    assert any(m.startswith("vLLM server ready after") for m in messages)
    left = subprocess.run(["pgrep", "-f", str(model_cache)], check=False, capture_output=True,
                          text=True).stdout
    assert not left.strip(), f"vLLM processes left running: {left}"
