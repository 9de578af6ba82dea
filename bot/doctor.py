"""`ccbot doctor`: every check an admin would otherwise do by hand."""

from __future__ import annotations

import asyncio

from bot.config import Config
from bot.errors import CcbotError
from bot.people import interface_problem, state_interface_problem
from bot.store import Store
from integrations.asterisk.ami import AmiPbx

OK, BAD = "ok ", "!! "


async def run_checks(config: Config) -> tuple[list[str], int]:
    lines = [f"Config {config.path}: read, {len(config.queues)} queues."]
    problems = 0
    for settings in config.settings.pbx:
        found, count = await _check_pbx(config, settings.name)
        lines.extend(found)
        problems += count
    found, count = _check_people(config)
    lines.extend(found)
    return lines, problems + count


async def _check_pbx(config: Config, name: str) -> tuple[list[str], int]:
    settings = config.pbxes[name]
    label = f"Asterisk {name} ({settings.host}:{settings.port})"
    if not settings.secret():
        missing = f"${settings.secret_env} is not set, so ccbot has no AMI secret."
        return [f"{BAD}{label}: {missing}"], 1

    pbx = AmiPbx(settings, settings.secret())
    try:
        problem = await pbx.check_login(settings.connect_timeout)
        if problem:
            return [f"{BAD}{label}: {problem}"], 1
        lines = [f"{OK}{label}: reachable, login accepted."]
        snapshot = await pbx.snapshot()
    except CcbotError as exc:
        return [f"{BAD}{label}: {exc}"], 1
    finally:
        await pbx.close()
        await asyncio.sleep(0)

    problems = 0
    for queue in config.queues_on(name):
        if queue in snapshot.queues:
            members = len(snapshot.queues[queue].members)
            count = f"{members} member" + ("" if members == 1 else "s")
            lines.append(f"{OK}queue {queue}: exists in Asterisk, {count}.")
        else:
            problems += 1
            lines.append(
                f"{BAD}queue {queue}: in {config.path.name} but Asterisk {name} has "
                "no such queue. Add it to queues.conf or remove it from the config."
            )
    return lines, problems


def _check_people(config: Config) -> tuple[list[str], int]:
    store = Store(config.store_path)
    try:
        people = store.people()
    finally:
        store.close()
    if not people:
        hint = f"Run `ccbot people import {config.people_csv}`."
        return [f"{BAD}people: none imported. {hint}"], 1
    lines, problems = [], 0
    if not config.people_csv.exists():
        problems += 1
        lines.append(
            f"{BAD}people.csv: {config.people_csv} does not exist; the next "
            "`ccbot people import` needs it (set [people] csv)."
        )
    for person in people:
        for problem in (
            interface_problem(person.interface),
            state_interface_problem(person.state_interface),
        ):
            if problem:
                problems += 1
                lines.append(f"{BAD}{person.email}: {problem}")
        unknown = [q for q in person.queues if q not in config.queues]
        if unknown:
            problems += 1
            names = ", ".join(unknown)
            lines.append(
                f"{BAD}{person.email}: default queue {names} is not in the config."
            )
    if not problems:
        lines.append(f"{OK}people: {len(people)}, every interface well-formed.")
    return lines, problems
