"""`ccbot doctor`'s Slack checks: the token, its scopes, the queue channels."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.config import Config, SlackSettings
from integrations.slack.chat import channel_id, make_client

OK, BAD = "ok ", "!! "

# The narrowest bot scopes that make every feature work; manifest.yml lists
# the same (a test keeps the two equal).
REQUIRED_SCOPES = {
    "commands": "slash commands",
    "chat:write": "replies, alerts and digests in channels the bot is in",
    "im:write": "direct messages (conversations.open)",
    "users:read": "reading who sent a command (users.info)",
    "users:read.email": "matching Slack users to people by email",
    "files:write": "digest charts (file uploads)",
    "channels:read": "checking the bot is in public queue channels",
    "groups:read": "checking the bot is in private queue channels",
}


async def check_slack(config: Config) -> tuple[list[str], int]:
    settings = config.settings.slack
    if settings is None:
        return [], 0
    lines, problems = _check_secrets(settings)
    token = settings.bot_token()
    if not token:
        return lines, problems

    client = make_client(settings.api_base_url, token, rate_limit_retries=1)
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        return [*lines, f"{BAD}Slack: auth.test refused the bot token ({error})."], (
            problems + 1
        )
    except (SlackRequestError, OSError, TimeoutError) as exc:
        return [
            *lines,
            f"{BAD}Slack: {settings.api_base_url} unreachable ({type(exc).__name__}).",
        ], problems + 1
    lines.append(
        f"{OK}Slack: token works for workspace {response.get('team')} "
        f"as @{response.get('user')}."
    )

    granted = {
        s.strip()
        for s in (response.headers.get("x-oauth-scopes") or "").split(",")
        if s.strip()
    }
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if missing:
        problems += 1
        needs = "; ".join(f"{s} ({REQUIRED_SCOPES[s]})" for s in missing)
        lines.append(
            f"{BAD}Slack: the bot token lacks {needs}. Add them from manifest.yml "
            "and reinstall the app."
        )
    else:
        lines.append(f"{OK}Slack: every scope ccbot needs is granted.")

    found, count = await _check_channels(config, client)
    return [*lines, *found], problems + count


def _check_secrets(settings: SlackSettings) -> tuple[list[str], int]:
    lines, problems = [], 0
    if not settings.bot_token():
        lines.append(
            f"{BAD}Slack: ${settings.bot_token_env} is not set (the xoxb- bot token "
            "from OAuth & Permissions)."
        )
        problems += 1
    if settings.mode == "socket" and not settings.app_token().startswith("xapp-"):
        lines.append(
            f"{BAD}Slack: Socket Mode needs an app-level token (xapp-, scope "
            f"connections:write) in ${settings.app_token_env}."
        )
        problems += 1
    if settings.mode == "http" and not settings.signing_secret():
        lines.append(
            f"{BAD}Slack: HTTP mode needs the signing secret (Basic Information) "
            f"in ${settings.signing_secret_env}."
        )
        problems += 1
    return lines, problems


async def _check_channels(config: Config, client: object) -> tuple[list[str], int]:
    addresses = sorted(
        {c for q in config.queues.values() for c in q.channels if channel_id(c)}
    )
    lines, problems = [], 0
    for address in addresses:
        target = channel_id(address)
        try:
            response = await client.conversations_info(channel=target)  # type: ignore[attr-defined]
        except SlackApiError as exc:
            problems += 1
            lines.append(
                f"{BAD}Slack channel {address}: {exc.response.get('error')}. Check the "
                "id, and invite the bot if the channel is private."
            )
            continue
        channel = response.get("channel") or {}
        if channel.get("is_member"):
            lines.append(
                f"{OK}Slack channel {address} (#{channel.get('name')}): in it."
            )
        else:
            problems += 1
            lines.append(
                f"{BAD}Slack channel {address} (#{channel.get('name')}): the bot is "
                "not in it. Type `/invite @ccbot` there."
            )
    return lines, problems
