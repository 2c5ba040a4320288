"""``tidepool image ...``: build the workspace image."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from tidepool import bootstrap
from tidepool.cli.output import console, fail, friendly_errors, run_async
from tidepool.images import tart
from tidepool.images.builder import BuildResult, build_image
from tidepool.settings import get_settings

app = typer.Typer(help="Build and inspect workspace images.")
ALPINE_ISO_OPTION = typer.Option(
    None,
    "--alpine-iso",
    help="tart: Alpine's aarch64 'virt' ISO to install from (default: the tart_alpine_iso "
    "setting).",
)


@app.command("build")
@friendly_errors
def image_build(
    base: bool = typer.Option(False, "--base", help="Build the plain image without code-server."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the inputs are unchanged."),
    runtime: str = typer.Option(
        "incus", "--runtime", help="incus: the Debian image; tart: the Alpine image via Packer."
    ),
    alpine_iso: Path | None = ALPINE_ISO_OPTION,
) -> None:
    """Build the workspace image: for Incus here, or for Tart with Packer on a Mac."""
    if runtime == "tart":
        if base:
            fail(
                "--base builds the Incus image without code-server; the Tart image has no such "
                "variant."
            )
        build_tart(force=force, alpine_iso=alpine_iso)
        return
    if runtime != "incus":
        fail(f"Unknown runtime {runtime!r}; use incus or tart.")
    settings = get_settings()

    async def build() -> BuildResult:
        client = bootstrap.incus_client(settings)
        started = time.monotonic()
        try:
            with console.status("Checking the image's inputs...") as status:

                def report(step: str) -> None:
                    elapsed = time.monotonic() - started
                    console.log(f"{step}")
                    status.update(f"[{elapsed:5.0f}s] {step}...")

                return await build_image(
                    settings, client, report, with_code_server=not base, force=force
                )
        finally:
            await client.aclose()

    result = run_async(build())
    verb = "Built and imported" if result.built else "Up to date:"
    console.print(
        f"{verb} [bold]{result.alias}[/] ({result.fingerprint[:12]}, inputs {result.inputs_key}) "
        f"in {result.seconds:.1f}s"
    )


def build_tart(*, force: bool, alpine_iso: Path | None) -> None:
    """Build ``tidepool-alpine`` with Packer (a Mac with Tart only), with the ISO and the key
    of the Tart runtime that ``bootstrap`` builds from these settings."""
    tart.check_tools()  # before anything else: off a Mac there is nothing to build with
    settings = get_settings()

    async def runtime_key() -> Path:
        tart_settings = settings.model_copy(update={"runtime": "tart"})
        async with bootstrap.opened_runtime(tart_settings) as runtime:
            return tart.ssh_key_of(runtime)

    result = tart.build_tart_image(
        run_async(runtime_key()),
        iso=alpine_iso or settings.tart_alpine_iso,
        force=force,
        report=console.log,
    )
    if not result.built:
        console.print(
            f"Up to date: Tart has [bold]{result.name}[/] (rebuild with --force). "
            f"It trusts the key {result.key}."
        )
        return
    console.print(
        f"Built the Tart image [bold]{result.name}[/] in {result.seconds:.0f}s (see `tart list`); "
        f"Tidepool reaches its VMs over SSH with {result.key}."
    )
