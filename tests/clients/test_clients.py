"""What client authors' tools make of the API: graphql-codegen's typed operations compile under
`tsc --strict`, Apollo Client's normalized cache agrees with the wire through paging, a rename and
a member's partial answer, and graphql-inspector finds the committed SDL to be the served schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLScalarType, build_schema, specified_scalar_types

from tests.browser.conftest import LiveServer
from tests.clients.conftest import CLIENTS, REPO_ROOT, run_bin, run_node, sign_in

SCHEMA = REPO_ROOT / "schema.graphql"
BILLING_ACCESS_REQUIRED = "BILLING_ACCESS_REQUIRED"


def _custom_scalars(sdl: str) -> set[str]:
    schema = build_schema(sdl)
    return {
        name
        for name, graphql_type in schema.type_map.items()
        if isinstance(graphql_type, GraphQLScalarType) and name not in specified_scalar_types
    }


def schema_changes(
    before: Path | str, after: Path | str, token: str | None = None
) -> list[dict[str, Any]]:
    """graphql-inspector's changes from one schema to another (SDL files or server URLs, which
    introspection needs a token for), each {type, level, path, message}; level is BREAKING,
    DANGEROUS or NON_BREAKING."""
    env = {"SCHEMA_TOKEN": token} if token else {}
    output = run_node("schema_diff.mjs", str(before), str(after), env=env)
    changes: list[dict[str, Any]] = json.loads(output)
    return changes


@pytest.fixture(scope="module")
def apollo_report(live_server: LiveServer, node_modules: Path) -> dict[str, Any]:
    """What apollo_cache.mjs printed, run once per database with Acme's owner and a member
    without billing access signed in: {checks: [{name, wire, cache, watched}], facts}."""
    owner = sign_in(live_server, "owner@acme.example")
    member = sign_in(live_server, "member@acme.example")
    output = run_node(
        "apollo_cache.mjs",
        env={"CHANNELBILL_URL": live_server.url, "OWNER_TOKEN": owner, "MEMBER_TOKEN": member},
    )
    report: dict[str, Any] = json.loads(output)
    return report


def test_the_codegen_scalar_map_names_every_custom_scalar_of_the_schema():
    # given the scalars of the committed SDL, and the map codegen.mjs hands to strictScalars
    scalars = _custom_scalars(SCHEMA.read_text(encoding="utf-8"))
    mapped = json.loads((CLIENTS / "scalars.json").read_text(encoding="utf-8"))
    # then each has a TypeScript type, and nothing is mapped that the schema lacks: a new scalar
    # must be added to scalars.json, or strictScalars would stop codegen for every client
    assert scalars >= {"Date", "DateTime", "Decimal", "Upload"}
    assert set(mapped) == scalars
    assert all(isinstance(ts_type, str) and ts_type for ts_type in mapped.values())


def test_a_new_scalar_is_noticed(tmp_path: Path):
    # given the SDL with one more scalar
    sdl = SCHEMA.read_text(encoding="utf-8") + '\n"""A share, 0 to 100."""\nscalar Percent\n'
    mapped = json.loads((CLIENTS / "scalars.json").read_text(encoding="utf-8"))
    # then the map check above would fail, naming it, until scalars.json gives it a type
    assert _custom_scalars(sdl) - set(mapped) == {"Percent"}


def test_generated_operations_compile_under_tsc_strict(generated: Path):
    # given the client preset's output for operations/*.graphql
    code = (generated / "gql" / "graphql.ts").read_text(encoding="utf-8")
    for name in ("ViewerQuery", "CustomersQuery", "CustomerInvoicesQuery", "InvoiceQuery"):
        assert f"export type {name} = " in code
    assert "export type UpdateCustomerMutation = " in code
    assert "any" not in {word.strip(";,") for word in code.split()}, "a type fell back to any"
    # when tsc checks it with typecheck.ts, which uses the results as a control panel does and
    # whose @ts-expect-error lines must still be errors (a Decimal is no number, a role no free text)
    run_bin(
        "typescript/bin/tsc",
        "--strict",
        "--noEmit",
        "--noUnusedLocals",
        "--target",
        "es2022",
        "--module",
        "esnext",
        "--moduleResolution",
        "bundler",
        "--skipLibCheck",
        "typecheck.ts",
        "gql/graphql.ts",
        "gql/gql.ts",
        "gql/index.ts",
        cwd=generated,
    )
    # then it compiled (run_bin fails with tsc's output otherwise)


def _by_name(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in checks}


def _invoices(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in page["invoices"]["edges"]]


def test_apollo_cache_gives_back_what_came_over_the_wire(apollo_report: dict[str, Any]):
    # given the demo, when Apollo Client has run the control panel's operations (apollo_report)
    report = apollo_report
    checks = _by_name(report["checks"])
    facts = report["facts"]
    # then for every check the cache and the watched query give back exactly the wire's answer
    assert len(checks) == 11
    for name, check in checks.items():
        assert check["cache"] == check["wire"], f"{name}: cache != wire"
        assert check["watched"] == check["wire"], f"{name}: watched query != wire"
    # the customer list came in more than one page, merged into one list of all four
    assert facts["pages"] >= 2
    assert facts["customers"] == 4
    listed = checks["customers, every page"]["cache"]
    assert len(listed["edges"]) == listed["totalCount"] == 4
    assert listed["hasNextPage"] is False
    # after the rename, the customer is renamed wherever the cache holds it, and every invoice still
    # names its buyer as it did when it was made: the cache predicted what the server then said
    assert facts["renameErrors"] == []
    before = _invoices(checks["customer invoices"]["wire"])
    after = _invoices(checks["customer invoices after rename, before refetch"]["cache"])
    assert before and len(after) == len(before)
    assert (
        checks["customer invoices after rename, refetched"]["wire"]["node"]["name"]
        == (facts["newName"])
    )
    for old, new in zip(before, after, strict=True):
        assert new["customer"]["name"] == facts["newName"]
        assert new["buyer"] == old["buyer"]
        assert new["buyer"]["name"].startswith("Northwind Traders")
        assert new["buyer"]["name"] != facts["newName"]
        assert new["buyer"]["accountId"] == new["customer"]["id"]
    # and once this month is billed under the new name, the page holds invoices naming the buyer
    # by either name, each as the server says (an id on BillingParty would merge them into one)
    assert facts["generateErrors"] == [] and facts["generated"] >= 1
    both = _invoices(checks["customer invoices under both names"]["wire"])
    assert {invoice["buyer"]["name"] for invoice in both} == {
        before[0]["buyer"]["name"],
        facts["newName"],
    }
    # and Apollo's persisted-query link sent hashes, the server keeping the texts it was sent once
    assert facts["hashOnlyRequests"] > 0


def test_a_member_gets_the_page_with_billing_fields_null_and_field_errors(
    apollo_report: dict[str, Any],
):
    # given a member without billing access, when Apollo Client has read a customer's page with
    # errorPolicy "all" (apollo_report)
    report = apollo_report
    check = _by_name(report["checks"])["member's customer page"]
    result = report["facts"]["member"]
    # then the data is there, billing fields null, and one BILLING_ACCESS_REQUIRED per field
    assert result["data"] == check["wire"] == check["cache"]
    assert result["data"]["invoices"] is None
    assert result["data"]["node"]["balance"] is None
    assert result["data"]["node"]["name"].startswith("Northwind Traders")
    assert result["errorName"] == "CombinedGraphQLErrors"
    expected = [
        {"path": ["invoices"], "code": BILLING_ACCESS_REQUIRED},
        {"path": ["node", "balance"], "code": BILLING_ACCESS_REQUIRED},
    ]
    key = json.dumps
    assert sorted(result["errors"], key=key) == sorted(expected, key=key)
    assert sorted(result["wireErrors"], key=key) == sorted(expected, key=key)


def test_the_committed_schema_is_the_served_one(live_server: LiveServer, node_modules: Path):
    # given a signed-in caller (introspection is not for anonymous callers)
    token = sign_in(live_server, "owner@acme.example")
    # when graphql-inspector compares schema.graphql with the live server's introspection
    changes = schema_changes(SCHEMA, f"{live_server.url}/graphql", token)
    # then there is no change at all, breaking, dangerous or not
    assert changes == []


def test_schema_diff_tells_breaking_from_dangerous_changes(tmp_path: Path, node_modules: Path):
    # given the SDL with a field gone and an enum value added
    sdl = SCHEMA.read_text(encoding="utf-8")
    changed = sdl.replace("enum InvoiceStatus {\n", "enum InvoiceStatus {\n  DISPUTED\n\n", 1)
    changed = changed.replace('  """Paid so far."""\n  amountPaid: Money!\n', "", 1)
    assert changed.count("amountPaid: Money!") == sdl.count("amountPaid: Money!") - 1
    (tmp_path / "changed.graphql").write_text(changed, encoding="utf-8")
    # when graphql-inspector diffs the committed SDL against it
    changes = schema_changes(SCHEMA, tmp_path / "changed.graphql")
    # then the removal is breaking and the new value dangerous (a client's switch may not know it)
    levels = {(change["type"], change["path"]): change["level"] for change in changes}
    assert levels == {
        ("FIELD_REMOVED", "Invoice.amountPaid"): "BREAKING",
        ("ENUM_VALUE_ADDED", "InvoiceStatus.DISPUTED"): "DANGEROUS",
    }
