"""The smallest VS Code extension code-server installs from a file: a manifest and a
``package.json``, zipped. The marketplace is not reachable from these machines, so tests
build the extensions they install."""

from __future__ import annotations

import io
import json
import zipfile

MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata>
    <Identity Language="en-US" Id="{name}" Version="0.0.1" Publisher="{publisher}"/>
    <DisplayName>{name}</DisplayName>
    <Description xml:space="preserve">A test extension.</Description>
    <Categories>Other</Categories>
    <Properties>
      <Property Id="Microsoft.VisualStudio.Code.Engine" Value="^1.0.0"/>
    </Properties>
  </Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/></Installation>
  <Dependencies/>
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json"
           Addressable="true"/>
  </Assets>
</PackageManifest>
"""
TYPES = (
    '<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension=".json" ContentType="application/json"/>'
    '<Default Extension=".vsixmanifest" ContentType="text/xml"/></Types>'
)


def vsix(publisher: str = "tidepool-test", name: str = "hello") -> bytes:
    """A ``.vsix`` whose id is ``publisher.name``."""
    package = {
        "name": name,
        "publisher": publisher,
        "version": "0.0.1",
        "engines": {"vscode": "^1.0.0"},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("extension.vsixmanifest", MANIFEST.format(name=name, publisher=publisher))
        archive.writestr("[Content_Types].xml", TYPES)
        archive.writestr("extension/package.json", json.dumps(package))
    return buffer.getvalue()
