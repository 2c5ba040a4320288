"""``tidepool image ...``: build the workspace image."""

from __future__ import annotations

import platform
import shutil
import subprocess
import time

import typer

from tidepool import bootstrap
from tidepool.cli.output import console, fail, friendly_errors, run_async
from tidepool.images.builder import BuildResult, build_image
from tidepool.images.bundle import npm_registry
from tidepool.images.inputs import PROVISIONING_SCRIPT
from tidepool.settings import get_settings

app = typer.Typer(help="Build and inspect workspace images.")


@app.command("build")
@friendly_errors
def image_build(
    base: bool = typer.Option(False, "--base", help="Build the plain image without code-server."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the inputs are unchanged."),
    runtime: str = typer.Option(
        "incus", "--runtime", help="incus: the Debian image; tart: the Alpine image via Packer."
    ),
) -> None:
    """Build the workspace image: for Incus here, or for Tart with Packer on a Mac."""
    if runtime == "tart":
        build_tart_image()
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


PACKER_TEMPLATE = PROVISIONING_SCRIPT.parents[1] / "alpine-workspace.pkr.hcl"


def build_tart_image() -> None:
    """``packer init`` and ``packer build`` of the Alpine template (a Mac with Tart only)."""
    if platform.system() != "Darwin":
        fail("Tart images are built on a Mac (Apple silicon) with Packer; see docs/macos.md.")
    if shutil.which("packer") is None or shutil.which("tart") is None:
        fail("Packer and Tart are needed: brew install packer cirruslabs/cli/tart")
    registry = npm_registry()
    for argv in (
        ["packer", "init", str(PACKER_TEMPLATE)],
        ["packer", "build", "-var", f"npm_registry={registry}", str(PACKER_TEMPLATE)],
    ):
        if subprocess.run(argv, check=False).returncode != 0:
            fail(f"{' '.join(argv[:2])} failed; see its output above.")
    console.print("Built the Tart image [bold]tidepool-alpine[/] (see `tart list`).")
