"""The one TOML configuration file, validated into frozen settings."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain import QueueInfo
from bot.errors import ConfigError

DEFAULT_PATH = "ccbot.toml"
ENV_PATH = "CCBOT_CONFIG"

Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    path: str = "ccbot.db"
    retention_days: int = Field(default=90, ge=1)


class PbxSettings(_Section):
    name: Name
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    secret_env: str = Field(min_length=1, description="environment variable name")
    action_timeout: float = Field(default=5.0, gt=0)
    connect_timeout: float = Field(default=3.0, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)

    def secret(self) -> str:
        return os.environ.get(self.secret_env, "")


class QueueSettings(_Section):
    name: Name
    pbx: str = ""
    display_name: str = ""
    channels: list[str] = []
    # Calls, alerts and digests; None takes the [calls] or [digest] default.
    service_level_seconds: int | None = Field(default=None, ge=0)
    short_abandon_seconds: int | None = Field(default=None, ge=0)
    nudge_callers: int = Field(default=0, ge=0, description="0: no nudge by count")
    nudge_wait_seconds: int = Field(default=0, ge=0, description="0: none by wait")
    nudge_cooldown_minutes: int = Field(default=15, ge=0)
    digest_channels: list[str] | None = None
    digest_people: list[str] | None = None
    digest_time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    digest_timezone: str | None = None

    @model_validator(mode="after")
    def _known_digest_zone(self) -> QueueSettings:
        if self.digest_timezone:
            _check_zone(self.digest_timezone)
        return self

    def info(self, default_pbx: str) -> QueueInfo:
        return QueueInfo(
            name=self.name,
            pbx=self.pbx or default_pbx,
            display_name=self.display_name or self.name.capitalize(),
            channels=tuple(self.channels),
        )


class PeopleSettings(_Section):
    csv: str = "people.csv"
    interface: str = "PJSIP/{extension}"
    state_interface: str = ""
    default_timezone: str = "UTC"

    @field_validator("interface", "state_interface")
    @classmethod
    def _template_names_extension(cls, template: str) -> str:
        if template and "{extension}" not in template:
            raise ValueError("the template must contain {extension}")
        return template

    @field_validator("default_timezone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        _check_zone(name)
        return name


class CallsSettings(_Section):
    default_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    mask_numbers: bool = False
    visible_digits: int = Field(default=4, ge=0, le=15)
    service_level_seconds: int = Field(default=20, ge=0)
    short_abandon_seconds: int = Field(default=5, ge=0)


class DigestSettings(_Section):
    enabled: bool = True
    time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"
    report: Literal["yesterday", "today"] = "yesterday"
    channels: list[str] = []
    people: list[str] = []
    prune_time: str = Field(default="03:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _known_zone(self) -> DigestSettings:
        _check_zone(self.timezone)
        return self


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}, e.g. Europe/Lisbon") from exc


class ConsoleSettings(_Section):
    enabled: bool = True


class SlackSettings(_Section):
    """Issue 3. Secrets are named by environment variable, never written here."""

    mode: Literal["socket", "http"] = "socket"
    # GovSlack uses https://slack-gov.com/api/; tests point it at a stand-in.
    api_base_url: str = "https://slack.com/api/"
    bot_token_env: str = Field(default="SLACK_BOT_TOKEN", min_length=1)
    app_token_env: str = Field(default="SLACK_APP_TOKEN", min_length=1)
    signing_secret_env: str = Field(default="SLACK_SIGNING_SECRET", min_length=1)
    admin_contact: str = "your ccbot admin"
    email_cache_hours: float = Field(default=24.0, gt=0)
    rate_limit_retries: int = Field(default=3, ge=0, le=10)

    def bot_token(self) -> str:
        return os.environ.get(self.bot_token_env, "")

    def app_token(self) -> str:
        return os.environ.get(self.app_token_env, "")

    def signing_secret(self) -> str:
        return os.environ.get(self.signing_secret_env, "")


class WebSettings(_Section):
    """ccbot's own HTTP server: Slack's HTTP mode (and Teams) and /healthz."""

    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535, description="0: any free port")


FreeBusy = Literal["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"]


class CalendarQueueSettings(_Section):
    """A queue's own answer to what a busy interval does."""

    on_busy: Literal["pause", "leave"] = "pause"


class CalendarSettings(_Section):
    """Which calendar and presence facts pause people, and how."""

    source: Literal["graph", "ics", "none"] = "none"
    refresh_minutes: float = Field(default=5, gt=0)
    presence_seconds: float = Field(default=60, gt=0)
    horizon_hours: float = Field(default=12, gt=0)
    lead_minutes: float = Field(default=0, ge=0, le=120)
    pausing_statuses: list[FreeBusy] = ["busy", "oof"]
    tentative: bool = False
    outside_working_hours: bool = False
    subject_in_reason: bool = False
    on_busy: Literal["pause", "leave"] = "pause"
    working_hours_login: bool = False
    presence: bool = True
    presence_availability: list[str] = ["DoNotDisturb"]
    presence_activity: list[str] = [
        "InACall",
        "InAConferenceCall",
        "Presenting",
        "DoNotDisturb",
    ]
    notify_by_dm: bool = True
    ics_timeout: float = Field(default=10, gt=0)
    queues: dict[str, CalendarQueueSettings] = {}

    @model_validator(mode="after")
    def _free_never_pauses(self) -> CalendarSettings:
        never = {"free", "workingElsewhere"} & set(self.pausing_statuses)
        if never:
            raise ValueError(
                f"pausing_statuses: {', '.join(sorted(never))} never pause"
            )
        return self

    def pauses_for(self, status: str) -> bool:
        if status == "tentative":
            return self.tentative or "tentative" in self.pausing_statuses
        return status in self.pausing_statuses

    def on_busy_in(self, queue: str) -> str:
        own = self.queues.get(queue)
        return own.on_busy if own else self.on_busy


class GraphSettings(_Section):
    """Microsoft Graph, app-only: one of secret, certificate or managed identity."""

    tenant_id: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    certificate_path: str = ""
    certificate_password_env: str = ""
    managed_identity: bool = False
    graph_url: str = "https://graph.microsoft.com/v1.0"
    authority_host: str = "https://login.microsoftonline.com"
    # A private cloud or a test stand-in signs with its own CA.
    ca_bundle: str = ""
    concurrency: int = Field(default=16, ge=1, le=64)
    timeout: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> GraphSettings:
        ways = [
            bool(self.client_secret_env),
            bool(self.certificate_path),
            self.managed_identity,
        ]
        if sum(ways) != 1:
            raise ValueError(
                "set exactly one of client_secret_env, certificate_path "
                "or managed_identity = true"
            )
        if not self.managed_identity and not (self.tenant_id and self.client_id):
            raise ValueError("tenant_id and client_id are required")
        return self

    def secret(self) -> str:
        return os.environ.get(self.client_secret_env, "")

    def certificate_password(self) -> str:
        return os.environ.get(self.certificate_password_env, "")


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    pbx: list[PbxSettings] = Field(min_length=1)
    queue: list[QueueSettings] = Field(min_length=1)
    people: PeopleSettings = PeopleSettings()
    console: ConsoleSettings = ConsoleSettings()
    calls: CallsSettings = CallsSettings()
    digest: DigestSettings = DigestSettings()
    calendar: CalendarSettings = CalendarSettings()
    graph: GraphSettings | None = None
    slack: SlackSettings | None = None
    web: WebSettings = WebSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class Config:
    """Settings plus the facts derived from them, with paths made absolute."""

    def __init__(self, settings: Settings, path: Path) -> None:
        self.settings = settings
        self.path = path
        self.base = path.parent
        default_pbx = settings.pbx[0].name
        self.queues = {q.name: q.info(default_pbx) for q in settings.queue}
        self.pbxes = {p.name: p for p in settings.pbx}

    def resolve(self, relative: str) -> Path:
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else self.base / candidate

    @property
    def store_path(self) -> Path:
        return self.resolve(self.settings.store.path)

    @property
    def people_csv(self) -> Path:
        return self.resolve(self.settings.people.csv)

    def queues_on(self, pbx: str) -> list[str]:
        return [name for name, info in self.queues.items() if info.pbx == pbx]


def find_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get(ENV_PATH) or DEFAULT_PATH)


def load(explicit: str | None = None) -> Config:
    path = find_path(explicit)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            [f"{path}: no such file (use --config or ${ENV_PATH})"]
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse(raw, path.resolve())


def parse(raw: dict[str, Any], path: Path) -> Config:
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from exc

    problems = _cross_check(settings)
    if problems:
        raise ConfigError(problems)
    return Config(settings, path)


def _describe(error: Any) -> str:
    key = _dotted(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown setting"
    if error["type"] == "missing":
        return f"{key}: required setting is missing"
    return f"{key}: {message} (got {error.get('input')!r})"


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item + 1}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _cross_check(settings: Settings) -> list[str]:
    problems: list[str] = []
    pbx_names = [p.name for p in settings.pbx]
    queue_names = [q.name for q in settings.queue]
    for kind, names in (("pbx", pbx_names), ("queue", queue_names)):
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{kind}: the name {name!r} is used more than once")

    for index, queue in enumerate(settings.queue, start=1):
        if queue.pbx and queue.pbx not in pbx_names:
            problems.append(
                f"queue[{index}].pbx: no [[pbx]] is named {queue.pbx!r} "
                f"(known: {', '.join(pbx_names)})"
            )
    for name in settings.calendar.queues:
        if name not in queue_names:
            problems.append(f"calendar.queues.{name}: no [[queue]] is named {name!r}")
    if settings.calendar.source == "graph" and settings.graph is None:
        problems.append("calendar.source: 'graph' needs a [graph] section")
    if queue_names and "all" in queue_names:
        problems.append("queue: 'all' is reserved and cannot name a queue")
    return problems
