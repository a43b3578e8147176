"""The committed schema.graphql is the contract: it must match the code."""

import subprocess
import sys
from pathlib import Path

from schema import build_schema

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_matches_the_code():
    printed = build_schema().as_str() + "\n"
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert printed == committed, "schema drifted: run `python -m schema.print > schema.graphql`"


def test_print_module_writes_the_same_sdl():
    result = subprocess.run(
        [sys.executable, "-m", "schema.print"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout == (ROOT / "schema.graphql").read_text(encoding="utf-8")
