"""Chat commands, the same for Slack, Teams and the console.

Each command's docstring is the help people see: the first line is the summary
and the rest is the detail shown by ``/help COMMAND``.
"""

from __future__ import annotations

import inspect
import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.control import Control, Outcome
from bot.domain import Layer, Person, pause_reason
from bot.errors import BadInput, LoginRefused, NotFound, StaticMember
from bot.messages import Reply, refused
from bot.timeparse import Window, split_window
from handlers import status
from handlers.text import join, when

log = logging.getLogger(__name__)

DEFAULT_PAUSE_REASON = "Paused"


@dataclass(frozen=True)
class Request:
    actor: Person
    target: Person
    args: list[str]
    text: str  # the arguments as typed, after the target
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def for_self(self) -> bool:
        return self.actor.email == self.target.email

    def shown(self, command: str) -> str:
        """A command as this platform names it (Slack reserves /help and /me)."""
        return self.names.get(command, command)


Handler = Callable[["Commands", Request], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    handler: Handler
    targets_others: bool = True

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.handler) or "").splitlines()[0]

    @property
    def detail(self) -> str:
        return inspect.getdoc(self.handler) or ""


REGISTRY: dict[str, Command] = {}
ALIASES = {
    "ccbot": "help",
    "myqueues": "me",
    "join": "joinqueue",
    "leave": "leavequeue",
}


def command(
    name: str, usage: str = "", targets_others: bool = True
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        REGISTRY[name] = Command(name, usage, handler, targets_others)
        return handler

    return register


class Commands:
    """Reads one line of chat and answers it."""

    def __init__(
        self, control: Control, admin_contact: str = "your ccbot admin"
    ) -> None:
        self.control = control
        self.admin_contact = admin_contact

    async def handle(
        self, email: str, line: str, names: Mapping[str, str] | None = None
    ) -> Reply:
        """Answer one line; ``names`` maps command names to the platform's own."""
        names = names or {}
        help_name = names.get("help", "help")
        actor = self.control.find_person(email)
        if actor is None:
            return refused(
                f"You're not in ccbot's people list, so I can't act for {email}. "
                f"Ask {self.admin_contact} to add you."
            )
        name, rest = _split_command(line)
        found = REGISTRY.get(ALIASES.get(name, name))
        if found is None:
            return refused(
                f"I don't know `/{name}`. Type `/{help_name}` for what I can do."
            )
        try:
            request = self._request(actor, rest, found, names)
        except BadInput as exc:
            return refused(str(exc))
        try:
            return await found.handler(self, request)
        except BadInput as exc:
            return refused(str(exc))
        except NotFound as exc:
            return refused(self._not_found(str(exc)))
        except StaticMember as exc:
            who = "You're" if request.for_self else f"{request.target.name} is"
            return refused(_static_text(str(exc), who))

    def _request(
        self, actor: Person, rest: str, found: Command, names: Mapping[str, str]
    ) -> Request:
        try:
            args = shlex.split(rest)
        except ValueError:
            args = rest.split()
        target = actor
        if found.targets_others and args and "@" in args[0]:
            named = self.control.find_person(args[0])
            if named is None:
                raise BadInput(
                    f"No one with the email {args[0]} is in the people list. "
                    "Check the spelling, or `ccbot people list`."
                )
            if named.email != actor.email and not actor.is_manager:
                raise BadInput(
                    "Only managers can act for someone else. "
                    "Leave out the name to act for yourself."
                )
            target, args = named, args[1:]
            rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
        return Request(
            actor=actor, target=target, args=args, text=rest.strip(), names=names
        )

    def _not_found(self, what: str) -> str:
        known = ", ".join(sorted(self.control.config.queues))
        return f"There's no queue called {what}. Queues: {known}."

    # shared pieces

    def queues_named(self, names: list[str]) -> list[str]:
        """Queue names as typed (any case, or the display name) to config names."""
        by_key: dict[str, str] = {}
        for name, info in self.control.config.queues.items():
            by_key[name.lower()] = name
            by_key[info.display_name.lower()] = name
        found, unknown = [], []
        for typed in names:
            key = typed.strip(",").lower()
            if key in by_key:
                found.append(by_key[key])
            else:
                unknown.append(typed)
        if unknown:
            raise NotFound(join(unknown))
        return list(dict.fromkeys(found))

    def window(self, request: Request) -> Window:
        return split_window(request.text, request.target.timezone, self.control.clock())

    def who(self, request: Request) -> str:
        """ "You" or the target's name, to start a sentence."""
        return "You" if request.for_self else request.target.name

    def is_(self, request: Request) -> str:
        """ "You're" or "Dana is"."""
        return "You're" if request.for_self else f"{request.target.name} is"

    def was(self, request: Request) -> str:
        """ "You weren't" or "Dana wasn't"."""
        return "You weren't" if request.for_self else f"{request.target.name} wasn't"

    def hint(self, request: Request, command: str) -> str:
        """A command to type, naming the target when a manager acts for them."""
        if request.for_self:
            return f"`/{command}`"
        return f"`/{command} {request.target.email}`"

    def until_text(self, request: Request, window: Window) -> str:
        if window.until is None:
            return ""
        moment = when(window.until, request.actor.timezone, self.control.clock())
        if request.actor.timezone != request.target.timezone:
            return f" until {moment} your time"
        return f" until {moment}"

    def outcome_note(self, outcome: Outcome) -> str:
        """What to add when not everything reached Asterisk."""
        notes = []
        if outcome.pending:
            why = (
                "Asterisk refused ccbot's login (ask your admin to run `ccbot doctor`)"
                if isinstance(outcome.pending_error, LoginRefused)
                else "the phone system isn't reachable right now"
            )
            notes.append(
                f"Not in Asterisk yet: {why}. I've saved this and will apply it "
                f"to {join(outcome.pending)} as soon as it's back."
            )
        for queue, error in outcome.failed.items():
            notes.append(status.error_text(queue, error))
        return " ".join(notes)


def _split_command(line: str) -> tuple[str, str]:
    text = line.strip()
    if not text:
        return "help", ""
    head, _, rest = text.partition(" ")
    return head.lstrip("/").lower(), rest.strip()


def _static_text(queues: str, who: str = "You're") -> str:
    return (
        f"{who} a permanent (static) member of {queues}, set in Asterisk's "
        "queues.conf, so I can't remove that membership over AMI. Ask your phone "
        "admin, or use `/pause` to stop calls."
    )


def _finish(commands: Commands, outcome: Outcome, text: str) -> Reply:
    if outcome.failed and not outcome.applied and not outcome.pending:
        # Nothing happened: say only why, so the reply is one true line.
        return refused(commands.outcome_note(outcome))
    note = commands.outcome_note(outcome)
    return Reply(text=f"{text} {note}".strip(), ok=outcome.ok)


@command("joinqueue", "[QUEUE… | all] [for DURATION | until TIME]")
async def joinqueue(commands: Commands, request: Request) -> Reply:
    """Join queues to take their calls.

    With no queue, joins your default queues; `all` joins every queue.
    Add `for 1h` or `until 17:00` to leave again by yourself.
    Examples: `/joinqueue`, `/joinqueue sales for 1h`, `/joinqueue all until 5pm`.
    """
    window = commands.window(request)
    names = window.rest.split()
    control = commands.control
    if names == ["all"]:
        queues = list(control.config.queues)
    elif names:
        queues = commands.queues_named(names)
    else:
        queues = list(request.target.queues)
        if not queues:
            return refused(
                "You have no default queues, so name one, e.g. `/joinqueue "
                f"{next(iter(control.config.queues))}`."
            )
    static = [
        q for q in queues if (s := control.seen(q, request.target.email)) and s.static
    ]
    queues = [q for q in queues if q not in static]
    if not queues:
        who = commands.is_(request)
        return Reply(text=f"{who} already a permanent member of {join(static)}.")

    outcome = await control.join(request.target, queues, window.until)
    queues = [q for q in queues if q not in outcome.failed]
    text = f"{commands.is_(request)} in {join(queues)}"
    text += f"{commands.until_text(request, window)}."
    paused = control.effective_pause(request.target.email)
    if paused is not None:
        unpause = commands.hint(request, "unpause")
        text += f" Still paused ({paused.reason}): {unpause} to take calls."
    elif outcome.ok and not outcome.pending:
        text += f" Calls will ring now. {commands.hint(request, 'leavequeue')} to stop."
    return _finish(commands, outcome, text)


@command("leavequeue", "[QUEUE… | all]")
async def leavequeue(commands: Commands, request: Request) -> Reply:
    """Leave queues and stop their calls.

    With no queue (or `all`), leaves every queue you joined.
    Examples: `/leavequeue`, `/leavequeue sales`.
    """
    control = commands.control
    email = request.target.email
    current = [m.queue for m in control.memberships(email)]
    static = [q for q in control.queues_of(email) if _is_static(control, q, email)]
    if request.args and request.args != ["all"]:
        named = commands.queues_named(request.args)
        if static_named := [q for q in named if q in static]:
            raise StaticMember(join(static_named))
        queues = [q for q in named if q in current]
        absent = [q for q in named if q not in current]
    else:
        queues, absent = current, []
        if not queues and static:
            return refused(_static_text(join(static), commands.is_(request)))
    if not queues:
        where = join(absent) if absent else "any queue"
        return Reply(text=f"{commands.was(request)} in {where}.")

    outcome = await control.leave(request.target, queues)
    who = "You've" if request.for_self else f"{request.target.name} has"
    text = f"{who} left {join(queues)}."
    if absent:
        text += f" ({commands.was(request)} in {join(absent)}.)"
    text += f" {commands.hint(request, 'joinqueue')} to come back."
    return _finish(commands, outcome, text)


def _is_static(control: Control, queue: str, email: str) -> bool:
    seen = control.seen(queue, email)
    return seen is not None and seen.static


@command("pause", "[REASON] [for DURATION | until TIME]")
async def pause(commands: Commands, request: Request) -> Reply:
    """Stop calls for a while without leaving your queues.

    The reason shows in Asterisk and to your team. Without a time, the pause
    lasts until you `/unpause`.
    Examples: `/pause lunch for 30m`, `/pause until 14:00`, `/pause training`.
    """
    window = commands.window(request)
    reason = pause_reason(window.rest) or DEFAULT_PAUSE_REASON
    control = commands.control
    outcome = await control.pause(request.target, reason, window.until)
    queues = control.queues_of(request.target.email)
    where = f" in {join(queues)}" if queues else ""
    text = f"{commands.is_(request)} paused{where}"
    text += f"{commands.until_text(request, window)} ({reason})."
    if not queues:
        text += f" Not in any queue yet: {commands.hint(request, 'joinqueue')}."
    early = " early" if window.until else ""
    text += f" {commands.hint(request, 'unpause')} to come back{early}."
    return _finish(commands, outcome, text)


@command("unpause")
async def unpause(commands: Commands, request: Request) -> Reply:
    """Take calls again after `/pause`."""
    control = commands.control
    email = request.target.email
    paused = control.pauses(email)
    if not paused:
        return Reply(text=f"{commands.was(request)} paused.")
    meeting = next((p for p in paused if p.layer is Layer.CALENDAR), None)
    outcome = await control.unpause(request.target)
    queues = control.queues_of(email)
    who = commands.is_(request)
    still = control.effective_pause(email)
    if still is not None:
        text = f"Manual pause cleared, but {who.lower()} still paused: {still.reason}."
    elif queues:
        text = f"{who} taking calls again in {join(queues)}."
    else:
        join_hint = commands.hint(request, "joinqueue")
        text = f"{who} unpaused, though in no queue. {join_hint} to take calls."
    if meeting is not None and meeting.until is not None:
        end = when(meeting.until, request.actor.timezone, control.clock())
        text += f" The calendar won't pause {_them(request)} again before {end}."
    return _finish(commands, outcome, text)


def _them(request: Request) -> str:
    return "you" if request.for_self else "them"


@command("queues", targets_others=False)
async def queues(commands: Commands, request: Request) -> Reply:
    """Every queue: who is in it, who is paused and why, callers waiting."""
    return await status.queues_reply(commands.control, request.actor)


@command("whoison", "[QUEUE]", targets_others=False)
async def whoison(commands: Commands, request: Request) -> Reply:
    """Who is taking calls right now, in one queue or all of them."""
    names = commands.queues_named(request.args) if request.args else None
    return await status.whoison_reply(commands.control, request.actor, names)


@command("me")
async def me(commands: Commands, request: Request) -> Reply:
    """Your queues, your pauses and what changes when."""
    return await status.me_reply(commands.control, request.target, request.actor)


@command("help", "[COMMAND]", targets_others=False)
async def help_(commands: Commands, request: Request) -> Reply:
    """What ccbot can do, or how one command works."""
    by_shown = {request.shown(name): name for name in REGISTRY}
    if request.args:
        name = request.args[0].lstrip("/").lower()
        found = REGISTRY.get(by_shown.get(name) or ALIASES.get(name, name))
        if found is None:
            help_name = request.shown("help")
            return refused(f"I don't know `/{name}`. Type `/{help_name}` for the list.")
        usage = f"`/{request.shown(found.name)} {found.usage}`".replace(" `", "`")
        return Reply(text=f"{usage}\n{found.detail}")
    lines = [
        f"`/{request.shown(c.name)}{' ' + c.usage if c.usage else ''}` — {c.summary}"
        for c in REGISTRY.values()
    ]
    tail = (
        "Managers can act for someone else by naming them first, "
        "e.g. `/pause dana@example.com lunch`."
    )
    return Reply(text="Here's what I can do:\n" + "\n".join(lines) + "\n" + tail)
