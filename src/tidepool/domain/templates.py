"""Templates: what a new workspace is made from (an image and a size), chosen from a list the
admin keeps, never typed in.

A user picks a template by name and may ask for a different size within the admin's maximums;
the size is fixed on the workspace when it is created, so a later change of the template does
not resize workspaces that exist (a rebuild would). ``default`` is always there: the image and
size Tidepool used before templates, unless the admin defines a template of that name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tidepool.domain.repositories import Repository
from tidepool.errors import InvalidInputError, NotFoundError

DEFAULT_TEMPLATE = "default"
TEMPLATE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
_TEMPLATE_NAME = re.compile(TEMPLATE_NAME_PATTERN)
#: Below these code-server does not start, or the image does not fit on the disk.
MIN_MEMORY_MIB = 256
MIN_DISK_GIB = 3


@dataclass(frozen=True, slots=True)
class Size:
    """CPUs, memory and root disk of one workspace; None means the platform's default at
    the time the workspace boots (what workspaces made before templates have)."""

    cpus: int | None = None
    memory_mib: int | None = None
    #: The root disk's size on the storage pool; None: no limit but the pool's.
    disk_gib: int | None = None


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    description: str
    image: str
    size: Size
    #: Cloned into every workspace made from it, unless the create names another.
    repository: Repository | None = None
    #: How many instances of it are kept started ahead of time (``tidepool.domain.pool``).
    pool_size: int = 0


@dataclass(frozen=True, slots=True)
class Maximums:
    """The most any workspace may ask for, whatever its template says."""

    cpus: int
    memory_mib: int
    disk_gib: int


def validate_template_name(name: str) -> str:
    if not _TEMPLATE_NAME.match(name):
        raise InvalidInputError(
            f"{name!r} is not a template name: a lowercase letter first, then up to 31 "
            "lowercase letters, digits and hyphens."
        )
    return name


class Catalog:
    """The templates a platform offers, by name, with the admin's maximums."""

    def __init__(self, templates: Iterable[Template], maximums: Maximums) -> None:
        self._templates: dict[str, Template] = {}
        for template in templates:
            validate_template_name(template.name)
            if template.name in self._templates:
                raise InvalidInputError(f"Template {template.name!r} is defined twice.")
            self._templates[template.name] = template
        if DEFAULT_TEMPLATE not in self._templates:
            raise InvalidInputError(f"There must be a template named {DEFAULT_TEMPLATE!r}.")
        self.maximums = maximums
        for template in self._templates.values():
            _check_size(template.size, maximums, f"Template {template.name!r} asks for")

    @property
    def templates(self) -> list[Template]:
        """Every template, ``default`` first, the others by name."""
        rest = sorted(name for name in self._templates if name != DEFAULT_TEMPLATE)
        return [self._templates[name] for name in (DEFAULT_TEMPLATE, *rest)]

    def get(self, name: str) -> Template:
        try:
            return self._templates[validate_template_name(name)]
        except KeyError:
            known = ", ".join(t.name for t in self.templates)
            raise NotFoundError(f"There is no template {name!r}; there are: {known}.") from None

    def image_of(self, name: str) -> str | None:
        """The image template ``name`` names now (None: there is no such template)."""
        found = self._templates.get(name)
        return found.image if found else None

    def size_for(self, template: Template, asked: Size) -> Size:
        """The template's size with what the user asked for instead, where they did;
        ``InvalidInputError`` naming the maximum if something is over it."""
        size = Size(
            cpus=asked.cpus if asked.cpus is not None else template.size.cpus,
            memory_mib=asked.memory_mib
            if asked.memory_mib is not None
            else template.size.memory_mib,
            disk_gib=asked.disk_gib if asked.disk_gib is not None else template.size.disk_gib,
        )
        _check_size(size, self.maximums, "The workspace asks for")
        return size


def _check_size(size: Size, maximums: Maximums, who: str) -> None:
    # (the value, the least that works, the most allowed, the setting that says so)
    wanted: Mapping[str, tuple[int | None, int, int, str]] = {
        "CPUs": (size.cpus, 1, maximums.cpus, "max_workspace_cpus"),
        "MiB of memory": (
            size.memory_mib,
            MIN_MEMORY_MIB,
            maximums.memory_mib,
            "max_workspace_memory_mib",
        ),
        "GiB of disk": (size.disk_gib, MIN_DISK_GIB, maximums.disk_gib, "max_workspace_disk_gib"),
    }
    for what, (value, least, most, setting) in wanted.items():
        if value is None:
            continue
        if value < least:
            raise InvalidInputError(f"{who} {value} {what}: a workspace needs at least {least}.")
        if value > most:
            raise InvalidInputError(
                f"{who} {value} {what}; the most a workspace may have here is {most} "
                f"(`{setting}`, set by the admin)."
            )
