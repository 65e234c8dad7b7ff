"""A run config made from a parameter dataclass: every field in the launchpad with its default and
description, the dataclass back from it without the asset's own options, and a field without a
description refused."""

import dataclasses
from typing import Literal

import dagster as dg
import pydantic
import pytest

from assets.curation.curate import CurationParams
from assets.shared.params_config import config_from_params
from models.clip.train import TrainSettings
from pipelines.definitions import defs


@pytest.mark.parametrize(("op", "params_class", "asset_only"), [
    ("curation", CurationParams, set()),
    ("clip_model", TrainSettings, {"resume"}),
])
def test_the_launchpad_shows_every_parameter_with_its_default_and_meaning(op, params_class, asset_only):
    """Every field of the plain parameters is in medpairs_job's config schema (none is held back),
    beside the asset's own options."""
    ops = defs.resolve_job_def("medpairs_job").run_config_schema.config_type.fields["ops"].config_type
    schema = ops.fields[op].config_type.fields["config"].config_type.fields
    plain = {f.name: f for f in dataclasses.fields(params_class)}
    assert set(schema) == set(plain) | asset_only
    for name, f in plain.items():
        assert schema[name].default_value == f.default, name
        assert schema[name].description == f.metadata["description"], name
    assert all(schema[name].description for name in asset_only)


@dataclasses.dataclass(frozen=True)
class Toy:
    size: int = dataclasses.field(metadata={"description": "Required: no default."})
    mode: Literal["a", "b"] = dataclasses.field(default="a", metadata={"description": "a or b."})
    root: str | None = dataclasses.field(default=None, metadata={"description": "A folder, or none."})


class ToyConfig(config_from_params(Toy)):
    dry_run: bool = False


def test_the_config_checks_values_and_gives_the_dataclass_back():
    config = ToyConfig(size=3, mode="b", dry_run=True)
    assert config.params() == Toy(size=3, mode="b", root=None)
    with pytest.raises(pydantic.ValidationError):
        ToyConfig(size=3, mode="c")
    with pytest.raises(pydantic.ValidationError):
        ToyConfig(mode="a")  # size is required, as in the dataclass

    @dg.asset
    def toy(config: ToyConfig) -> None: ...

    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.materialize([toy], run_config={"ops": {"toy": {"config": {"mode": "b"}}}})


def test_a_parameter_without_a_description_is_refused():
    @dataclasses.dataclass
    class Undocumented:
        size: int = 1

    with pytest.raises(TypeError, match="Undocumented.size has no description"):
        config_from_params(Undocumented)
