from __future__ import annotations

from pathlib import Path

import pytest

from bot import config
from bot.errors import ConfigError
from tests.conftest import config_text


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "ccbot.toml"
    path.write_text(config_text(5038))

    loaded = config.load(str(path))

    assert list(loaded.queues) == ["sales", "support", "billing"]
    assert loaded.queues["sales"].pbx == "main"
    assert loaded.store_path == tmp_path / "ccbot.db"
    assert loaded.settings.pbx[0].action_timeout == 3


def test_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(config_text(5038))
    monkeypatch.setenv("CCBOT_CONFIG", str(path))

    assert config.load().path == path.resolve()


def test_each_problem_names_its_key(tmp_path: Path) -> None:
    raw = {
        "pbx": [{"name": "main", "username": "u", "secret_env": "S", "port": 99999}],
        "queue": [{"name": "sales", "channel": "x"}, {"name": "bad name!"}],
        "people": {"interface": "PJSIP/1001"},
    }

    with pytest.raises(ConfigError) as caught:
        config.parse(raw, tmp_path / "c.toml")

    problems = "\n".join(caught.value.problems)
    assert "pbx[1].port" in problems and "99999" in problems
    assert "queue[1].channel: unknown setting" in problems
    assert "queue[2].name" in problems
    assert "people" in problems and "{extension}" in problems
    assert len(caught.value.problems) == 4


def test_queue_naming_an_unknown_pbx_is_a_problem(tmp_path: Path) -> None:
    raw = {
        "pbx": [{"name": "main", "username": "u", "secret_env": "S"}],
        "queue": [{"name": "sales", "pbx": "branch"}, {"name": "sales"}],
    }

    with pytest.raises(ConfigError) as caught:
        config.parse(raw, tmp_path / "c.toml")

    assert caught.value.problems == [
        "queue: the name 'sales' is used more than once",
        "queue[1].pbx: no [[pbx]] is named 'branch' (known: main)",
    ]


def test_missing_and_malformed_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        config.load(str(tmp_path / "absent.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[[pbx]\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(str(broken))
