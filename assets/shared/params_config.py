"""A stage's run config made from the plain parameter dataclass its logic takes, so each parameter is
declared once: its name, type, default and meaning (`metadata={"description": ...}` on the dataclass
field) live in the dataclass, and the Dagster launchpad shows the same."""

import dataclasses
import typing

import dagster as dg
import pydantic

P = typing.TypeVar("P")


def config_from_params(params_class: type[P]) -> type[dg.Config]:
    """A `dg.Config` with one field per field of the dataclass `params_class` (same name, type, default,
    and its description). Its `params()` returns the dataclass; a subclass may add options of its own,
    which `params()` leaves out."""
    hints = typing.get_type_hints(params_class)
    fields = {}
    for f in dataclasses.fields(params_class):
        if "description" not in f.metadata:
            raise TypeError(f"{params_class.__name__}.{f.name} has no description in its field metadata")
        default = ... if f.default is dataclasses.MISSING else f.default  # ...: a required field
        fields[f.name] = (hints[f.name], pydantic.Field(default, description=f.metadata["description"]))

    class ParamsConfig(dg.Config):
        def params(self) -> P:
            """The plain parameters this config holds."""
            return params_class(**{name: getattr(self, name) for name in fields})

    return pydantic.create_model(f"{params_class.__name__}Config", __base__=ParamsConfig,
                                 __module__=__name__, **fields)
