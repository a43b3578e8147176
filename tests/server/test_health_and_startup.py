"""Health endpoints, start-up migration and the refusal of unsafe settings."""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from server.app import create_app
from server.settings import Settings, SettingsError


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def _get(app, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_readyz_is_503_on_an_unmigrated_database(tmp_path):
    settings = Settings(
        environment="test",
        secret_key="s" * 40,
        migrate_on_start=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3",
    )
    app = create_app(settings)
    async with LifespanManager(app):
        assert (await _get(app, "/healthz")).status_code == 200
        ready = await _get(app, "/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "not migrated"}


async def test_serving_migrates_a_new_database_and_loads_demo_data_once(tmp_path):
    settings = Settings(
        environment="development",
        secret_key="s" * 40,
        migrate_on_start=True,
        seed_demo=True,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/new/channelbill.sqlite3",
    )
    for _ in range(2):
        app = create_app(settings)
        async with LifespanManager(app):
            assert (await _get(app, "/readyz")).status_code == 200
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                login = await client.post(
                    "/graphql",
                    json={
                        "query": (
                            'mutation { login(input: {email: "admin@example.com", password: "channelbill-demo"})'
                            " { accessToken } }"
                        )
                    },
                )
                token = login.json()["data"]["login"]["accessToken"]
                body = await client.post(
                    "/graphql",
                    json={"query": "{ resellers { totalCount } customers { totalCount } }"},
                    headers={"Authorization": f"Bearer {token}"},
                )
    assert body.json()["data"] == {"resellers": {"totalCount": 2}, "customers": {"totalCount": 7}}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHANNELBILL_ENV": "production"}, "CHANNELBILL_SECRET_KEY must be set"),
        ({"CHANNELBILL_ENV": "test"}, "CHANNELBILL_SECRET_KEY must be set"),
        ({"CHANNELBILL_SECRET_KEY": "short"}, "at least 32 bytes"),
        ({"CHANNELBILL_ENV": "staging"}, "CHANNELBILL_ENV must be one of"),
        ({"DATABASE_URL": "mysql://x/y"}, "SQLite or PostgreSQL"),
        (
            {
                "CHANNELBILL_ENV": "production",
                "CHANNELBILL_SECRET_KEY": "k" * 40,
                "CHANNELBILL_SEED_DEMO": "1",
            },
            "CHANNELBILL_DEMO_PASSWORD",
        ),
    ],
)
def test_unsafe_settings_are_refused(env, message, tmp_path):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"CHANNELBILL_DATA_DIR": str(tmp_path), **env})


def test_a_development_install_makes_its_own_key_once(tmp_path):
    # when a development server starts without CHANNELBILL_SECRET_KEY
    env = {"CHANNELBILL_DATA_DIR": str(tmp_path / "one")}
    first = Settings.from_env(env)
    # then it signs with a random key of its own, kept in its data directory, readable by it only
    kept = tmp_path / "one" / "secret_key"
    assert kept.read_text().strip() == first.secret_key
    assert kept.stat().st_mode & 0o777 == 0o600
    assert len(first.secret_key) >= 32
    # and keeps using it after a restart, while another install gets another key
    assert Settings.from_env(env).secret_key == first.secret_key
    other = Settings.from_env({"CHANNELBILL_DATA_DIR": str(tmp_path / "two")})
    assert other.secret_key != first.secret_key
    # and an explicit key wins, writing nothing
    given = Settings.from_env(
        {"CHANNELBILL_DATA_DIR": str(tmp_path / "3"), "CHANNELBILL_SECRET_KEY": "k" * 40}
    )
    assert given.secret_key == "k" * 40 and not (tmp_path / "3").exists()
    assert first.secret_key not in repr(first)


def test_settings_from_the_environment(tmp_path):
    settings = Settings.from_env(
        {
            "CHANNELBILL_ENV": "production",
            "CHANNELBILL_SECRET_KEY": "k" * 40,
            "DATABASE_URL": "postgresql://app:pw@db:5432/channelbill",
            "MIGRATION_DATABASE_URL": "postgres://owner:pw@db/channelbill",
            "HOST": "0.0.0.0",
            "PORT": "9000",
            "SMTP_HOST": "mail",
            "SMTP_PORT": "1025",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://app:pw@db:5432/channelbill"
    assert settings.owner_database_url == "postgresql+asyncpg://owner:pw@db/channelbill"
    assert (settings.host, settings.port, settings.smtp_host, settings.smtp_port) == (
        "0.0.0.0",
        9000,
        "mail",
        1025,
    )
    assert settings.seed_demo is False
    assert Settings.from_env({"CHANNELBILL_DATA_DIR": str(tmp_path)}).seed_demo is True
