"""Load the stage's SQL files by name: SQL lives in sql/*.sql and runs with bound parameters."""

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()
