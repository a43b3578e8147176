VIEWER = "{ viewer { kind user { email role reseller { name } } reseller { slug } } }"


async def test_viewer(api, world):
    body = await api(VIEWER, token=world.token("owner", world.a))
    assert body == {
        "data": {
            "viewer": {
                "kind": "USER",
                "user": {"email": "owner@alpha.example", "role": "OWNER", "reseller": {"name": "Alpha Reseller"}},
                "reseller": {"slug": "alpha"},
            }
        }
    }
