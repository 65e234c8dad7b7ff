"""The Kubernetes example (deploy/k8s) loads: its code location is the project's with dagster-k8s'
executor, every step's pod spec renders through dagster-k8s with the resources asked for (a GPU for
captions and training), and the Helm values serve that module from the image the Dockerfile builds."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
)
from ops_helpers import ROOT

import pipelines.definitions as medpairs
from pipelines.environment import PROD_REQUIRED, load_environment
from deploy.k8s.definitions import STEP_K8S_CONFIG, defs

K8S = ROOT / "deploy" / "k8s"
JOBS = ("sources_job", "ingest_job", "medpairs_job", "shuffled_control_job")
GPU_STEPS = {"class_captions", "native_text_captions", "clip_model", "shuffled_control"}


def test_k8s_location_has_the_same_assets_and_jobs_on_the_k8s_executor():
    assert defs.resolve_asset_graph().get_all_asset_keys() == medpairs.defs.resolve_asset_graph().get_all_asset_keys()
    for name in JOBS:
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "medpairs_k8s", name
        dg.validate_run_config(job, {})  # the executor's own config, per-step pods included, fits its schema


def test_dagster_cli_validates_the_k8s_location(tmp_path):
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m",
                           "deploy.k8s.definitions"], cwd=ROOT, env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_step_pod_renders_with_its_resources_and_only_captions_and_training_get_a_gpu():
    steps = {node.name for name in JOBS for node in defs.resolve_job_def(name).nodes}
    assert set(STEP_K8S_CONFIG) == steps
    job_config = DagsterK8sJobConfig(job_image="registry.example.com/medpairs:test",
                                     dagster_home="/opt/dagster/dagster_home")
    for step, config in STEP_K8S_CONFIG.items():
        k8s_job = construct_dagster_k8s_job(job_config, ["dagster", "api", "execute_step"],
                                            f"dagster-step-{step.replace('_', '-')}",
                                            UserDefinedDagsterK8sConfig.from_dict(config))
        pod = k8s_job.spec.template.spec
        resources = pod.containers[0].resources
        assert {"cpu", "memory"} <= set(resources.requests), step
        if step in GPU_STEPS:
            assert resources.limits["nvidia.com/gpu"] == "1", step
            assert any(t.key == "nvidia.com/gpu" for t in pod.tolerations), step
        else:
            assert "nvidia.com/gpu" not in resources.limits and not pod.tolerations, step


def test_helm_values_serve_the_k8s_module_from_the_dockerfile_image():
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module, workdir = args[args.index("-m") + 1], args[args.index("-d") + 1]
    assert module == "deploy.k8s.definitions" and importlib.util.find_spec(module)
    assert re.search(rf"^WORKDIR {re.escape(workdir)}$", (K8S / "Dockerfile").read_text(), re.M)
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["MEDPAIRS_ENV"] == "prod" and env["MEDPAIRS_STORAGE_ROOT"].startswith("s3://")
    assert set(PROD_REQUIRED) <= set(env)  # what prod refuses to load without
    load_environment(env)
    assert "medpairs-privacy" in {secret["name"] for secret in deployment["envSecrets"]}
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # dagster-postgres ships psycopg2; SQLAlchemy 2.1 would take a bare postgresql:// for psycopg 3.
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["telemetry"]["enabled"] is False
