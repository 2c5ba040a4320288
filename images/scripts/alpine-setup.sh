#!/bin/sh
# Tidepool's provisioning for Alpine (apk, OpenRC): the shared workspace-setup.sh, forced to its
# Alpine path. Debian and Ubuntu run workspace-setup.sh directly; one script serves them all.
#
# workspace-setup.sh is looked for next to this script (Packer uploads both to one directory),
# or at WORKSPACE_SETUP. Every setting of workspace-setup.sh (CODE_SERVER_INSTALL, NODE_MAJOR,
# TIDEPOOL_START_SERVICE...) passes through the environment unchanged.
set -eu

setup=${WORKSPACE_SETUP:-$(dirname "$0")/workspace-setup.sh}
if [ ! -r "$setup" ]; then
    printf '[alpine-setup] error: %s not found; set WORKSPACE_SETUP to its path\n' "$setup" >&2
    exit 1
fi
TIDEPOOL_OS=alpine
export TIDEPOOL_OS
exec sh "$setup" "$@"
