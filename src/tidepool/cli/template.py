"""``tidepool template list``: what a new workspace can be made from."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from tidepool.cli.output import console, friendly_errors
from tidepool.cli.workspace import JsonOption, UrlOption, call_api
from tidepool.client import JSON, ApiClient

app = typer.Typer(help="The templates workspaces are made from (the admin's config file).")


@app.command("list")
@friendly_errors
def list_(as_json: bool = JsonOption, url: str = UrlOption) -> None:
    """Every template with its image and size, and the most a workspace may ask for."""

    async def go(client: ApiClient) -> JSON:
        return await client.templates()

    found = call_api(url, go)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table = Table("name", "description", "image", "cpus", "memory (MiB)", "disk (GiB)")
    for item in found["items"]:
        table.add_row(
            item["name"],
            item["description"],
            item["image"],
            str(item["cpus"] or "default"),
            str(item["memory_mib"] or "default"),
            str(item["disk_gib"] or "pool"),
        )
    console.print(table)
    most = found["maximums"]
    console.print(
        f"At most {most['cpus']} CPUs, {most['memory_mib']} MiB and {most['disk_gib']} GiB "
        "per workspace (`--cpus`, `--memory`, `--disk` of `tidepool workspace create`)."
    )
