from __future__ import annotations

from pathlib import Path

from bot.config import PeopleSettings
from bot.domain import Role
from bot.people import import_csv
from bot.store import Store

SETTINGS = PeopleSettings(
    interface="Local/{extension}@from-queue/n",
    state_interface="hint:{extension}@ext-local",
    default_timezone="Europe/Berlin",
)
QUEUES = ["sales", "support"]


def _write(path: Path, body: str) -> Path:
    path.write_text("email,name,extension,interface,queues,role,timezone\n" + body)
    return path


def test_import_builds_interfaces_from_templates(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    csv = _write(tmp_path / "p.csv", "Ana@Shop.test,Ana,1001,,sales;support,manager,\n")

    report = import_csv(csv, store, SETTINGS, QUEUES)

    ana = store.get_person("ana@shop.test")
    assert report.added == 1 and not report.problems
    assert ana is not None
    assert ana.interface == "Local/1001@from-queue/n"
    assert ana.state_interface == "hint:1001@ext-local"
    assert ana.queues == ("sales", "support")
    assert ana.role is Role.MANAGER
    assert ana.timezone == "Europe/Berlin"


def test_reimport_updates_and_does_not_duplicate(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    import_csv(
        _write(tmp_path / "p.csv", "ana@shop.test,Ana,1001,,sales,,\n"),
        store,
        SETTINGS,
        QUEUES,
    )

    report = import_csv(
        _write(tmp_path / "p.csv", "ana@shop.test,Ana Lima,1002,,support,,\n"),
        store,
        SETTINGS,
        QUEUES,
    )

    assert (report.added, report.updated) == (0, 1)
    people = store.people()
    assert len(people) == 1
    assert (
        people[0].name == "Ana Lima"
        and people[0].interface == "Local/1002@from-queue/n"
    )


def test_bad_rows_are_reported_by_line_and_the_rest_import(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    csv = _write(
        tmp_path / "p.csv",
        "ana@shop.test,Ana,1001,,sales,,\n"
        "not-an-email,Bob,1002,,,,\n"
        "cleo@shop.test,Cleo,,,,,\n"
        "dan@shop.test,Dan,1004,,salse,,\n"
        "eve@shop.test,Eve,1005,,,boss,\n"
        "fay@shop.test,Fay,1006,,,,Mars/Olympus\n"
        "gus@shop.test,Gus,,PJSIP 1007,,,\n"
        "hal@shop.test,Hal,1008,,,,\n",
    )

    report = import_csv(csv, store, SETTINGS, QUEUES)

    assert [p.split(":")[0] for p in report.problems] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]
    assert "unknown queue salse" in report.problems[2]
    assert "role 'boss'" in report.problems[3]
    assert {p.email for p in store.people()} == {"ana@shop.test", "hal@shop.test"}


def test_store_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    again = Store(tmp_path / "s.db")

    assert store.version == again.version >= 1
    mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
