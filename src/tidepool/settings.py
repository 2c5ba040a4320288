"""Tidepool's settings: ``TIDEPOOL_*`` environment variables over a TOML file over defaults.

The TOML file is ``$TIDEPOOL_CONFIG`` if set, else ``/etc/tidepool/config.toml`` if it exists.
Nothing is read at import time: call ``get_settings()``.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tidepool import images
from tidepool.domain.ide import FORWARD_PORTS
from tidepool.domain.origins import WorkspaceAddresses
from tidepool.domain.pool import MAX_POOL_SIZE
from tidepool.domain.repositories import repository
from tidepool.domain.templates import (
    DEFAULT_TEMPLATE,
    MIN_DISK_GIB,
    MIN_MEMORY_MIB,
    Catalog,
    Maximums,
    Size,
    Template,
)
from tidepool.errors import TidepoolError
from tidepool.settings_activity import ActivitySettings
from tidepool.settings_cluster import ClusterSettings
from tidepool.settings_homes import HomeSettings
from tidepool.settings_network import NetworkSettings, is_address, is_loopback
from tidepool.settings_paths import DataPaths
from tidepool.settings_quotas import QuotaSettings
from tidepool.settings_templates import TemplateSettings

DEFAULT_CONFIG_FILE = Path("/etc/tidepool/config.toml")
#: An Incus pool or profile name as Tidepool accepts it: it goes into Incus's URLs.
_INCUS_NAME = r"^[a-z][a-z0-9-]{0,62}$"


class Settings(
    ActivitySettings,
    ClusterSettings,
    HomeSettings,
    NetworkSettings,
    QuotaSettings,
    DataPaths,
    BaseSettings,
):
    """Every knob Tidepool has, validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix="TIDEPOOL_", extra="forbid")

    data_dir: Path = Field(
        default=Path("/var/lib/tidepool"),
        description="State, logs, the Caddy config and its admin socket live here.",
    )
    cache_dir: Path = Field(
        default=Path("/var/cache/tidepool"),
        description="Slow build inputs (rootfs, code-server) cached by a hash of their inputs.",
    )
    http_host: str = Field(
        default="",
        description="Interface Caddy listens on; empty: loopback only while no sign-in is "
        "configured (auth = none), every interface otherwise.",
    )
    open_without_sign_in: bool = Field(
        default=False,
        description="Serve every interface even with auth = none. Anyone who reaches the port "
        "then gets a shell, and sudo, in every workspace; serve says so loudly at start.",
    )
    http_port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = Field(
        default="", description="Base URL printed for users; derived from the port if empty."
    )

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite at DATA_DIR/tidepool.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    queue: Literal["database", "sqs"] = Field(
        default="database", description="Where reconcile jobs wait: the database, or SQS."
    )
    sqs_queue_url: str = ""
    sqs_endpoint_url: str = Field(default="", description="ElasticMQ or another SQS endpoint.")
    sqs_region: str = "us-east-1"
    instance_prefix: str = Field(
        default="ws",
        pattern=r"^[a-z][a-z0-9]{0,7}$",
        description="Instances the control plane makes are named PREFIX-<id>; resync removes "
        "only instances with this prefix that no workspace owns.",
    )
    worker_lease_seconds: float = Field(default=60.0, gt=1)
    crash_at: str = Field(
        default="",
        pattern=r"^((caddy|both):)?[a-z_]{0,32}$",
        description="For crash tests only: when a reconcile reaches this step (creating, "
        "instance_created, ... running; stopping, ...), SIGKILL this process, or with "
        "caddy:STEP its Caddy, or with both:STEP both.",
    )
    resync_interval_seconds: float = Field(default=30.0, gt=0)

    auth: Literal["none", "basic", "forward_auth"] = Field(
        default="none",
        description="none: anyone who reaches :8080 may use every workspace (a single user); "
        "basic: Caddy asks for a user name and password, and each user sees only their own; "
        "forward_auth: a sign-in page at /app/login/ and a session cookie, API tokens for "
        "scripts (`tidepool token create`), each user sees only their own.",
    )
    session_hours: float = Field(
        default=168.0,
        gt=0,
        le=24 * 90,
        description="How long a sign-in lasts (forward_auth), in hours.",
    )

    tls: Literal["off", "internal", "acme"] = Field(
        default="off",
        description="internal: HTTPS with a certificate from Caddy's own CA (a LAN); acme: from "
        "a public CA (the domain must reach this host on 80/443); HTTP then redirects to HTTPS.",
    )
    domain: str = Field(
        default="",
        pattern=r"^$|^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$",
        description="The host name users open; required when tls is on.",
    )
    https_port: int = Field(default=8443, ge=1, le=65535)
    workspace_domain: str = Field(
        default="",
        pattern=r"^$|^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
        description="Each workspace is its own origin: NAME.WORKSPACE_DOMAIN (the IDE) and "
        "PORT--NAME.WORKSPACE_DOMAIN (a forwarded port). Empty: the public URL's host name, "
        "or localhost when that is an address (browsers resolve *.localhost to loopback). "
        "A real host needs wildcard DNS (*.WORKSPACE_DOMAIN) to it.",
    )
    workspace_paths: Literal["redirect", "serve"] = Field(
        default="redirect",
        description="redirect: /workspace/NAME/ sends the browser to the workspace's origin. "
        "serve: serve workspaces under /workspace/NAME/ on the main host, one origin for all, "
        "where script served by any workspace acts with its viewer's session (serve warns "
        "unless only one user is possible: auth = none on loopback).",
    )
    preview_domain: str = Field(
        default="",
        pattern=r"^$|^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$",
        description="Deprecated: read as workspace_domain (forwarded ports were its only use).",
    )

    runtime: str = Field(
        default="incus",
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="A `tidepool.runtimes` entry point: incus (Linux), tart (macOS), or a "
        "third party's.",
    )
    tart_alpine_iso: Path | None = Field(
        default=None,
        description="Alpine's aarch64 'virt' ISO, a local file you downloaded and checked, that "
        "`tidepool image build --runtime tart` installs the Tart image from (docs/macos.md).",
    )
    incus_socket: Path = Path("/var/lib/incus/unix.socket")
    instance_type: Literal["container", "virtual-machine"] = "container"
    storage_pool: str = Field(
        default="tidepool",
        pattern=_INCUS_NAME,
        description="The Incus storage pool workspaces' disks live on (made by host init).",
    )
    incus_profile: str = Field(
        default="tidepool",
        pattern=_INCUS_NAME,
        description="The Incus profile every workspace is made with: its NIC on the bridge and "
        "its root disk on `storage_pool` (made by host init).",
    )
    storage_driver: Literal["btrfs", "dir"] = "btrfs"
    storage_size_gib: int = Field(default=40, ge=5)
    workspace_cpus: int = Field(default=2, ge=1)
    workspace_memory_mib: int = Field(default=2048, ge=256)
    image_alias: str = images.DEFAULT_IMAGE_ALIAS
    templates: list[TemplateSettings] = Field(
        default_factory=list,
        description="What users pick from when they create a workspace ([[templates]] tables: "
        "name, description, image, cpus, memory_mib, disk_gib); `default` is always there.",
    )
    pool_size: int = Field(
        default=0,
        ge=0,
        le=MAX_POOL_SIZE,
        description="How many `default` workspaces are kept started ahead of time, for creates "
        "in well under a second (a [[templates]] table's `pool_size` for the others).",
    )
    max_workspace_cpus: int = Field(default=8, ge=1)
    max_workspace_memory_mib: int = Field(default=16384, ge=MIN_MEMORY_MIB)
    max_workspace_disk_gib: int = Field(default=200, ge=MIN_DISK_GIB)
    workspace_user: str = "dev"
    code_server_version: str = images.CODE_SERVER_VERSION
    node_major: int = images.NODE_MAJOR
    trust_host_ca: bool = Field(
        default=True,
        description="Copy the host's extra CA certificates into images (TLS-inspecting proxies).",
    )
    debian_mirror: str = Field(
        default="", description="Debian mirror for debootstrap; read from apt's sources if empty."
    )

    @model_validator(mode="after")
    def _each_runtime_its_own_image(self) -> Settings:
        """Unless ``image_alias`` is set, a workspace gets the image its runtime's build
        makes: the Incus alias names nothing Tart knows (it would be read as a registry)."""
        if "image_alias" not in self.model_fields_set:
            self.image_alias = images.DEFAULT_IMAGES.get(self.runtime, self.image_alias)
        return self

    @model_validator(mode="after")
    def _no_open_network_without_sign_in(self) -> Settings:
        """code-server runs without a password: with no sign-in in front, whoever reaches
        the port owns every workspace. So that needs saying twice, never by default."""
        explicit = self.http_host
        if (
            self.auth == "none"
            and not self.open_without_sign_in
            and explicit
            and not is_loopback(explicit)
        ):
            raise ValueError(
                f"http_host {self.http_host!r} would serve the network with auth = none: set "
                "auth (forward_auth or basic), or open_without_sign_in = true to do it anyway"
            )
        return self

    @property
    def listen_host(self) -> str:
        """The interface Caddy listens on: ``http_host``, or by default loopback while no
        sign-in is configured and every interface otherwise."""
        if self.http_host:
            return self.http_host
        return "" if self.auth != "none" or self.open_without_sign_in else "127.0.0.1"

    @property
    def open_network_without_sign_in(self) -> bool:
        """True when Caddy serves beyond loopback with nobody signing in (warned about)."""
        return self.auth == "none" and not is_loopback(self.listen_host)

    @model_validator(mode="after")
    def _preview_domain_is_the_workspace_domain(self) -> Settings:
        """``preview_domain`` named where ``PORT--NAME`` hosts live; those are now every
        workspace's origins, so an installation that set it keeps its DNS and certificates."""
        if self.preview_domain and not self.workspace_domain:
            self.workspace_domain = self.preview_domain
        return self

    @model_validator(mode="after")
    def _workspace_origins_need_a_name(self) -> Settings:
        """``alice.192.168.1.5`` is no host name: a public URL by address needs a
        ``workspace_domain`` (with wildcard DNS), or workspaces served under paths."""
        if self.workspace_domain or self.workspace_paths == "serve":
            return self
        host = urlsplit(self.workspace_base_url).hostname or ""
        if is_address(host) and not is_loopback(host):
            raise ValueError(
                f"public URL {self.workspace_base_url!r} is an address, and each workspace "
                "needs a host name of its own: set workspace_domain (with wildcard DNS to this "
                'host), or workspace_paths = "serve" to serve them all under one origin'
            )
        return self

    @model_validator(mode="after")
    def _templates_fit(self) -> Settings:
        try:
            self.catalog  # noqa: B018 (built now so that a bad template stops the start)
        except TidepoolError as error:
            raise ValueError(str(error)) from None
        return self

    @cached_property
    def catalog(self) -> Catalog:
        """The templates users pick from, ``default`` (today's image and size) included."""
        made = [
            Template(
                name=entry.name,
                description=entry.description,
                image=entry.image or self.image_alias,
                size=Size(
                    entry.cpus if entry.cpus is not None else self.workspace_cpus,
                    entry.memory_mib if entry.memory_mib is not None else self.workspace_memory_mib,
                    entry.disk_gib,
                ),
                repository=repository(entry.repository, entry.branch) if entry.repository else None,
                pool_size=entry.pool_size,
            )
            for entry in self.templates
        ]
        if all(template.name != DEFAULT_TEMPLATE for template in made):
            made.append(
                Template(
                    DEFAULT_TEMPLATE,
                    "The standard workspace image.",
                    self.image_alias,
                    Size(self.workspace_cpus, self.workspace_memory_mib),
                    pool_size=self.pool_size,
                )
            )
        maximums = Maximums(
            self.max_workspace_cpus, self.max_workspace_memory_mib, self.max_workspace_disk_gib
        )
        return Catalog(made, maximums)

    @model_validator(mode="after")
    def _tls_needs_a_domain(self) -> Settings:
        if self.tls != "off" and not self.domain:
            raise ValueError("tls needs a domain (the host name users open)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("TIDEPOOL_CONFIG", DEFAULT_CONFIG_FILE))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file)
        return (init_settings, env_settings, toml)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tidepool.db'}"

    @property
    def workspace_base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.tls != "off":
            port = "" if self.https_port == 443 else f":{self.https_port}"
            return f"https://{self.domain}{port}"
        return f"http://localhost:{self.http_port}"

    @property
    def resolved_workspace_domain(self) -> str:
        """Where workspace origins live: ``workspace_domain``, else the public URL's host
        name, else (an address) ``localhost``."""
        if self.workspace_domain:
            return self.workspace_domain
        host = urlsplit(self.workspace_base_url).hostname or ""
        return "localhost" if not host or is_address(host) else host

    @property
    def single_user(self) -> bool:
        """Only one person can reach this installation: no sign-in, and loopback only."""
        return self.auth == "none" and is_loopback(self.listen_host)

    @property
    def workspace_addresses(self) -> WorkspaceAddresses:
        return WorkspaceAddresses(
            base_url=self.workspace_base_url,
            domain=self.resolved_workspace_domain,
            forward_ports=FORWARD_PORTS,
            paths=self.workspace_paths == "serve",
        )

    @property
    def paths_shared_by_users(self) -> bool:
        """Workspaces served under paths where more than one person may open them (warned)."""
        return self.workspace_paths == "serve" and not self.single_user

    def workspace_url(self, name: str) -> str:
        return self.workspace_addresses.ide_url(name)


def get_settings() -> Settings:
    """Read the settings now (environment, then the TOML file, then defaults)."""
    return Settings()
