"""A real S3 API for the tests in this folder: moto's server on a free loopback port, one bucket,
and the AWS_* environment a user would set (AWS_ENDPOINT_URL points s3fs/botocore at the server)."""

from __future__ import annotations

import re
import uuid

import fsspec
import pytest
import s3fs

from deploy.rehearsal.services import moto_s3_server

BUCKET = "medpairs-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """The endpoint URL of a moto S3 server holding the bucket BUCKET; stopped after the session."""
    with moto_s3_server(BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def s3_env(s3_endpoint, monkeypatch, tmp_path) -> str:
    """S3 configured as a user would: through the environment only. Cached s3fs instances are
    dropped before and after, so each test builds its clients from the environment it sets."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint,
                        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials")}.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_endpoint
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_prefix(request) -> str:
    """`s3://BUCKET/<test name>-<random>`: a folder no other test writes to."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")[:60]
    return f"s3://{BUCKET}/{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def s3() -> fsspec.AbstractFileSystem:
    """The S3 filesystem as the code under test gets it: from the environment."""
    return fsspec.filesystem("s3")
