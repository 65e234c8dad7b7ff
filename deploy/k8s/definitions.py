"""MedPairs on Kubernetes: the code location of pipelines/definitions.py, unchanged, with every step
run in a pod of its own by dagster-k8s' `k8s_job_executor`, each pod sized for its step: a GPU for
the caption LLM (vLLM) and for CLIP training, CPU and memory for the others.

Sizes are keyed by op name through the executor's `per_step_k8s_config` (dagster-k8s merges it over
the step's `dagster-k8s/config` tags), so the asset modules stay free of deployment details. The
user code deployment of deploy/k8s/values.yaml serves this module:

    dagster api grpc -m deploy.k8s.definitions
"""

from __future__ import annotations

import dagster as dg
from dagster_k8s import k8s_job_executor

import pipelines.definitions as medpairs  # the module, so that one Definitions sits at this module's scope

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod_resources(cpu: str, memory: str, gpus: int = 0) -> dict:
    """dagster-k8s config for one step's pod: requests (and a memory limit); with `gpus`, that many
    NVIDIA GPUs as a limit and a toleration for tainted GPU nodes."""
    limits = {"memory": memory, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    config = {"container_config": {"resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}}}
    if gpus:
        config["pod_spec_config"] = {"tolerations": [GPU_TOLERATION]}
    return config


# Op name -> pod size. raw_samples: match IngestConfig.workers (processes) to the CPUs.
STEP_K8S_CONFIG = {
    "source_catalog": pod_resources("250m", "512Mi"),
    "synthetic_source": pod_resources("1", "2Gi"),
    "raw_samples": pod_resources("4", "8Gi"),
    "class_captions": pod_resources("4", "32Gi", gpus=1),
    "native_text_captions": pod_resources("4", "32Gi", gpus=1),  # the LLM condenses reports
    "curation": pod_resources("4", "16Gi"),
    "webdataset_shards": pod_resources("2", "8Gi"),
    "data_card": pod_resources("1", "4Gi"),
    "clip_model": pod_resources("8", "64Gi", gpus=1),
    "shuffled_control": pod_resources("8", "64Gi", gpus=1),
    "benchmark_report": pod_resources("4", "16Gi"),
}

medpairs_k8s_executor = k8s_job_executor.configured(
    {"per_step_k8s_config": STEP_K8S_CONFIG, "max_concurrent": 8}, name="medpairs_k8s"
)

defs = dg.Definitions.merge(medpairs.defs, dg.Definitions(executor=medpairs_k8s_executor))
