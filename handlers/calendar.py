"""/calendar: what ccbot read from your calendar today, and the DM switch."""

from __future__ import annotations

from bot.availability import CalendarBook, describe_day
from bot.messages import Reply, refused
from handlers.commands import Commands, Request, command


@command("calendar", "[dm on|off]")
async def calendar(commands: Commands, request: Request) -> Reply:
    """What your calendar does to your calls today, and why.

    `/calendar dm off` stops the direct message on each automatic pause and
    resume; `/calendar dm on` brings it back.
    """
    control = commands.control
    rules = control.config.settings.calendar
    book = CalendarBook(control.store)
    if request.args[:1] == ["dm"]:
        return _switch(book, request, rules.notify_by_dm)
    if request.args:
        return refused("Try `/calendar`, `/calendar dm on` or `/calendar dm off`.")
    if rules.source == "none":
        return Reply(text="ccbot reads no calendars here, so nothing pauses you.")
    schedule = book.schedule(request.target.email)
    if schedule is None:
        return Reply(text="I haven't read this calendar yet. Try again in a minute.")
    note = ""
    if schedule.error:
        note = "The last read failed, so this is what I saw before."
    return describe_day(request.target, schedule.calendar, rules, control.clock(), note)


def _switch(book: CalendarBook, request: Request, default: bool) -> Reply:
    choice = request.args[1:2]
    if choice not in (["on"], ["off"]):
        now = "on" if book.notify(request.target.email, default) else "off"
        return refused(
            f"Messages are {now}. Say `/calendar dm on` or `/calendar dm off`."
        )
    book.set_notify(request.target.email, choice == ["on"])
    if choice == ["on"]:
        return Reply(text="I'll message you when your calendar pauses or resumes you.")
    me = request.shown("me")
    return Reply(text=f"No more messages on calendar pauses. `/{me}` still shows them.")
