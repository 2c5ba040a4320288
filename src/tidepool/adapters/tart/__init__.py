"""Tart: workspaces as Linux VMs on a Mac, driven through the ``tart`` CLI.

``TartRuntime`` (``runtime.py``) implements the ``Runtime`` port; ``cli.py`` runs ``tart`` and
maps its failures to Tidepool's errors, ``parse.py`` reads its outputs, ``guest.py`` runs
commands inside a VM (the guest agent, or SSH), ``detach.py`` starts ``tart run`` in the
background.
"""

from tidepool.adapters.tart.runtime import TartRuntime

__all__ = ["TartRuntime"]
