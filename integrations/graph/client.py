"""A GraphServiceClient for app-only access, pointed at the configured cloud.

Every endpoint is a setting: the Graph base URL and the sign-in authority,
for national clouds (and, in tests, for the stand-in servers on 127.0.0.1).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.identity import AzureAuthorityHosts
from azure.identity.aio import (
    CertificateCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
)
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

from bot.config import GraphSettings
from bot.errors import ConfigError

log = logging.getLogger(__name__)

# Instance discovery asks login.microsoft.com about the authority; it only
# knows Microsoft's own clouds, so any other host must skip it.
_KNOWN_AUTHORITIES = {
    urlsplit(f"https://{host}").hostname
    for host in (
        AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
        AzureAuthorityHosts.AZURE_GOVERNMENT,
        AzureAuthorityHosts.AZURE_CHINA,
    )
}
RETRIES = 3  # top-level 429, 503 and 504, honouring Retry-After (kiota)


def credential(settings: GraphSettings) -> Any:
    """The azure-identity credential the settings describe."""
    options: dict[str, Any] = {}
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    if settings.managed_identity:
        return ManagedIdentityCredential(
            client_id=settings.client_id or None, **options
        )
    authority = settings.authority_host.rstrip("/")
    if urlsplit(authority).hostname not in _KNOWN_AUTHORITIES:
        options["disable_instance_discovery"] = True
    if settings.certificate_path:
        return CertificateCredential(
            settings.tenant_id,
            settings.client_id,
            certificate_path=settings.certificate_path,
            password=settings.certificate_password() or None,
            authority=authority,
            **options,
        )
    secret = settings.secret()
    if not secret:
        raise ConfigError(
            [
                f"graph.client_secret_env: the environment variable "
                f"{settings.client_secret_env} is empty"
            ]
        )
    return ClientSecretCredential(
        settings.tenant_id, settings.client_id, secret, authority=authority, **options
    )


def scope_for(settings: GraphSettings) -> str:
    """App-only tokens ask for the Graph host's ``.default`` scope."""
    parts = urlsplit(settings.graph_url)
    return f"{parts.scheme}://{parts.netloc}/.default"


def _tls(settings: GraphSettings) -> ssl.SSLContext | bool:
    if not settings.ca_bundle:
        return True
    return ssl.create_default_context(cafile=settings.ca_bundle)


def http_client(settings: GraphSettings) -> httpx.AsyncClient:
    """httpx with kiota's middleware, retry handler included."""
    http = httpx.AsyncClient(
        timeout=settings.timeout,
        limits=httpx.Limits(
            max_connections=settings.concurrency + 4,
            max_keepalive_connections=settings.concurrency + 4,
        ),
        verify=_tls(settings),
    )
    retry = RetryHandlerOption(delay=1.0, max_retries=RETRIES)
    http = GraphClientFactory.create_with_default_middleware(
        client=http, options={RetryHandlerOption.get_key(): retry}
    )
    http.base_url = httpx.URL(settings.graph_url.rstrip("/") + "/")
    return http


def graph_client(
    settings: GraphSettings, token_credential: Any, http: httpx.AsyncClient
) -> GraphServiceClient:
    """A client whose every request goes to ``settings.graph_url``."""
    base = settings.graph_url.rstrip("/")
    auth = AzureIdentityAuthenticationProvider(
        token_credential,
        scopes=[scope_for(settings)],
        allowed_hosts=[urlsplit(base).hostname or ""],
    )
    adapter = GraphRequestAdapter(auth, http)
    adapter.base_url = base
    return GraphServiceClient(request_adapter=adapter)
