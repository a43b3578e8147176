"""Every numeric setting, given garbage, is refused with a SettingsError that names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError

SOURCE = (Path(__file__).resolve().parents[2] / "server" / "settings.py").read_text()
NUMERIC = sorted(set(re.findall(r'_(?:int|float)\(env, "([A-Z0-9_]+)"', SOURCE)))
BASE = {"CHANNELBILL_ENV": "test", "CHANNELBILL_SECRET_KEY": "k" * 32}
HOSTILE = ["abc", "1e400", "nan", "inf", "9" * 50, "\x00", "\ud800", "12abc", "1_0x"]


def test_the_numeric_settings_are_found():
    assert {"PORT", "PDF_WORKERS", "COST_BUDGET", "JOBS_POLL_SECONDS"} <= set(NUMERIC)


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", HOSTILE)
def test_garbage_is_refused_by_name(name: str, value: str):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**BASE, name: value})


@pytest.mark.parametrize("name", NUMERIC)
def test_empty_means_the_default(name: str):
    assert Settings.from_env({**BASE, name: ""}) == Settings.from_env(BASE)
