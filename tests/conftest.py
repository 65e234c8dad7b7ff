"""Fixtures for more than one test folder."""

import os

import pytest


@pytest.fixture(scope="session")
def vllm_python():
    """The vLLM environment's interpreter (`make setup-vllm`): skip without it, or fail where
    MEDPAIRS_REQUIRE_VLLM is set (CI sets it after making the environment)."""
    from models.captioning.vllm_server import VLLMServerError, vllm_python

    try:
        return vllm_python()
    except VLLMServerError as e:
        if os.environ.get("MEDPAIRS_REQUIRE_VLLM"):
            pytest.fail(f"{e}, and MEDPAIRS_REQUIRE_VLLM is set")
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One folder for converted model weights (SmolLM2's GGUF as a transformers folder), shared by the
    tests that load it, so it is converted once per session."""
    return tmp_path_factory.mktemp("models")
