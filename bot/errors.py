"""Core errors. Adapters raise these ``from`` the SDK error they translate."""

from __future__ import annotations


class CcbotError(Exception):
    """Base of every error ccbot expects and answers politely."""


class NotFound(CcbotError):
    """A queue, person or member that does not exist."""


class NotAllowed(CcbotError):
    """The person may not do this (not in the directory, not a manager)."""


class BadInput(CcbotError):
    """Text a person typed that ccbot could not read."""


class PbxUnavailable(CcbotError):
    """The phone system could not be reached or did not answer in time."""


class PbxRefused(CcbotError):
    """The phone system answered with an error response."""


class AlreadyDone(PbxRefused):
    """The phone system was already in the asked-for state."""


class StaticMember(PbxRefused):
    """A member set in queues.conf, which AMI cannot remove."""


class NotAMember(PbxRefused):
    """The interface is not a member of that queue."""


class NoSuchQueue(PbxRefused):
    """The phone system has no queue of that name."""


class LoginRefused(PbxUnavailable):
    """AMI rejected the username or secret."""


class ConfigError(CcbotError):
    """A configuration file with one or more problems."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class CalendarUnavailable(CcbotError):
    """A calendar source could not be read at all (sign-in, network, outage)."""
