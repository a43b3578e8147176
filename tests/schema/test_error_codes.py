"""One list of the codes a mutation payload's errors can carry: core.errors.ErrorCode, published
as the UserErrorCode enum. A code written as a bare string would bypass it."""

import ast
from pathlib import Path

import pytest

from core.errors import DomainError, ErrorCode, Problem
from schema import build_schema

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "auth",
    "billing",
    "payments",
    "tenants",
    "notifications",
    "jobs",
    "documents",
    "limits",
    "core",
    "db",
)


def string_codes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, code) of every code given as a string literal: ``code="X"``, ``Problem("X", ...)``
    and a ``code = "X"`` class attribute."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            values = [k.value for k in node.keywords if k.arg == "code"]
            if isinstance(node.func, ast.Name) and node.func.id == "Problem" and node.args:
                values.append(node.args[0])
            found += [(v.lineno, v.value) for v in values if isinstance(v, ast.Constant)]
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = statement.targets if isinstance(statement, ast.Assign) else []
                if any(isinstance(t, ast.Name) and t.id == "code" for t in targets) and isinstance(
                    statement.value, ast.Constant
                ):
                    found.append((statement.lineno, statement.value.value))
    return found


def test_the_walk_finds_codes_written_as_strings():
    # given
    source = 'class E(DomainError):\n    code = "A"\nraise E("m", code="B")\nProblem("C", "m")\n'

    # when
    found = string_codes(ast.parse(source))

    # then
    assert sorted(found) == [(2, "A"), (3, "B"), (4, "C")]


def test_domain_codes_are_error_code_members_never_strings():
    # given
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]

    # when
    strings = [
        f"{path.relative_to(ROOT)}:{line}: {code!r}"
        for path in files
        for line, code in string_codes(ast.parse(path.read_text(encoding="utf-8")))
    ]

    # then
    assert files and strings == []


def test_a_problem_with_an_unknown_code_is_refused():
    with pytest.raises(ValueError, match="NO_SUCH_CODE"):
        Problem("NO_SUCH_CODE", "m")  # type: ignore[arg-type]


def test_every_domain_error_class_has_a_known_code():
    # given
    classes, seen = [DomainError], []
    while classes:
        cls = classes.pop()
        seen.append(cls)
        classes += cls.__subclasses__()

    # then
    assert all(isinstance(cls.code, ErrorCode) for cls in seen), seen


def test_user_error_code_is_error_code():
    # given
    enum = build_schema()._schema.type_map["UserErrorCode"]

    # then: the same values, each described
    assert set(enum.values) == {code.value for code in ErrorCode}
    assert all(value.description for value in enum.values.values())
