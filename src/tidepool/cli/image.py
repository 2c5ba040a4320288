"""``tidepool image ...``: build the workspace image."""

from __future__ import annotations

import time

import typer

from tidepool import bootstrap
from tidepool.cli.output import console, friendly_errors, run_async
from tidepool.images.builder import BuildResult, build_image
from tidepool.settings import get_settings

app = typer.Typer(help="Build and inspect workspace images.")


@app.command("build")
@friendly_errors
def image_build(
    base: bool = typer.Option(False, "--base", help="Build the plain image without code-server."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the inputs are unchanged."),
) -> None:
    """Build the Debian workspace image and import it into Incus (cached by its inputs)."""
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
