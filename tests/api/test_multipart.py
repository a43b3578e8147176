"""The GraphQL multipart request spec, or nothing runs: a request without its map, or with a map
that names no null variable of the operation, a file it does not hold, or leaves a file out, is
a 400, and the stored logo stays as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.test_notification_settings import UPDATE, png, upload
from tests.factories import World

SETTINGS = "{ notificationSettings { logoDataUri } }"
OPERATIONS = {"query": UPDATE, "variables": {"input": {"logo": None}}}


@pytest.mark.parametrize(
    ("data", "files", "says"),
    [
        pytest.param({"operations": json.dumps(OPERATIONS)}, {"0": "png"}, "map", id="no-map"),
        pytest.param(
            {"operations": json.dumps(OPERATIONS), "map": json.dumps({"0": ["variables.nope"]})},
            {"0": "png"},
            "not a null variable",
            id="a-variable-that-does-not-exist",
        ),
        pytest.param(
            {
                "operations": json.dumps(OPERATIONS),
                "map": json.dumps({"1": ["variables.input.logo"]}),
            },
            {"0": "png"},
            "does not hold",
            id="a-file-that-is-not-sent",
        ),
        pytest.param(
            {
                "operations": json.dumps(OPERATIONS),
                "map": json.dumps({"0": ["variables.input.logo"]}),
            },
            {"0": "png", "1": "png"},
            "not in the map",
            id="a-file-left-out-of-the-map",
        ),
        pytest.param(
            {
                "operations": json.dumps(OPERATIONS),
                "map": json.dumps({"0": "variables.input.logo"}),
            },
            {"0": "png"},
            "list of variable paths",
            id="a-path-not-in-a-list",
        ),
        pytest.param(
            {"map": json.dumps({"0": ["variables.input.logo"]})},
            {"0": "png"},
            "operations",
            id="no-operations",
        ),
    ],
)
async def test_a_malformed_upload_is_refused_and_changes_nothing(
    api, world: World, data: dict[str, Any], files: dict[str, str], says: str
):
    # given a reseller with a logo
    owner = world.token("owner", world.a)
    stored = await upload(api, owner, png())
    assert stored["data"]["updateNotificationSettings"]["errors"] == []
    before = (await api(SETTINGS, token=owner))["data"]["notificationSettings"]["logoDataUri"]
    assert before
    # when a malformed multipart request arrives
    response = await api.client.post(
        "/graphql",
        data=data,
        files={name: ("logo.png", png(8, 8), "image/png") for name in files},
        headers={"Authorization": f"Bearer {owner}"},
    )
    # then it is a 400 with a JSON error saying what is wrong, and the logo is still there
    assert response.status_code == 400
    assert says in response.json()["errors"][0]["message"]
    after = (await api(SETTINGS, token=owner))["data"]["notificationSettings"]["logoDataUri"]
    assert after == before
