# Tidepool's Alpine workspace image for Tart (macOS on Apple silicon), built by Packer.
#
#   tidepool image build --runtime tart --alpine-iso alpine-virt-3.23.0-aarch64.iso
#
# which runs `packer init` and `packer build` with every variable below that has no default:
# the ISO, and the public key of the pair TartRuntime reaches the VM with (made for you in
# Tidepool's data directory). The result is a local Tart VM named "tidepool-alpine" (see
# `tart list`), the image that TartRuntime clones for each workspace. The Tart builder boots
# the Alpine ISO, types the install over VNC (setup-alpine with the answer file below), powers
# off, boots the installed disk and provisions it over SSH with the same script as every other
# Tidepool image (scripts/workspace-setup.sh, through scripts/alpine-setup.sh). docs/macos.md
# walks through it, and through running Packer by hand.

packer {
  required_plugins {
    tart = {
      version = ">= 1.12.0"
      source  = "github.com/cirruslabs/tart"
    }
  }
}

variable "alpine_iso" {
  type        = string
  description = "Absolute path to Alpine's aarch64 'virt' ISO, downloaded and checked beforehand."
}

variable "cpu_count" {
  type    = number
  default = 4
}

variable "memory_gb" {
  type    = number
  default = 4
}

variable "disk_size_gb" {
  type    = number
  default = 20
}

variable "build_password" {
  type        = string
  default     = "tidepool-build"
  sensitive   = true
  description = "Root's password while Packer provisions over SSH; removed at the end of the build."
}

variable "ssh_authorized_key" {
  type        = string
  description = "The public key root trusts: the image has no Tart guest agent, so TartRuntime runs commands over SSH with its half of this pair."
  validation {
    condition     = can(regex("^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/=]+", var.ssh_authorized_key))
    error_message = "The ssh_authorized_key value must be one OpenSSH public key line, such as the contents of a .pub file."
  }
}

variable "code_server_install" {
  type    = string
  default = "npm"
  validation {
    condition     = contains(["npm", "standalone"], var.code_server_install)
    error_message = "The code_server_install value must be npm or standalone."
  }
}

variable "code_server_version" {
  type    = string
  default = "4.139.1"
}

variable "node_major" {
  type        = string
  default     = "24"
  description = "Must be the major version of the Alpine release's nodejs package for the npm install."
}

variable "npm_registry" {
  type        = string
  default     = ""
  description = "npm registry for code-server; empty means npm's own configuration. Pass -var npm_registry=$(npm config get registry) to use the Mac's."
}

locals {
  # The image's name is fixed: TartRuntime and docs/macos.md refer to it.
  image_name = "tidepool-alpine"
  answers    = <<-EOT
    KEYMAPOPTS="us us"
    HOSTNAMEOPTS="-n ${local.image_name}"
    DEVDOPTS="mdev"
    INTERFACESOPTS="auto lo
    iface lo inet loopback

    auto eth0
    iface eth0 inet dhcp
    "
    DNSOPTS=""
    TIMEZONEOPTS="-z UTC"
    PROXYOPTS="none"
    APKREPOSOPTS="-1 -c"
    USEROPTS="none"
    ROOTSSHKEYOPTS="none"
    SSHDOPTS="-c openssh"
    NTPOPTS="-c chrony"
    DISKOPTS="-m sys /dev/vda"
  EOT
}

source "tart-cli" "alpine" {
  from_iso     = [var.alpine_iso]
  vm_name      = local.image_name
  cpu_count    = var.cpu_count
  memory_gb    = var.memory_gb
  disk_size_gb = var.disk_size_gb
  headless     = true
  http_content = {
    "/answers" = local.answers
  }
  boot_wait = "20s"
  boot_command = [
    # The live system: log in as root (no password), bring the network up, fetch the answers.
    "root<enter><wait5>",
    "ifconfig eth0 up && udhcpc -i eth0<enter><wait10>",
    "wget -qO /tmp/answers http://{{ .HTTPIP }}:{{ .HTTPPort }}/answers<enter><wait5>",
    # Install to /dev/vda (the ISO is a second, read-only disk), let root in over SSH for the
    # provisioning, and power off: the builder then boots the installed disk.
    "ERASE_DISKS=/dev/vda setup-alpine -e -f /tmp/answers",
    " && mount /dev/vda3 /mnt",
    " && echo 'PermitRootLogin yes' >> /mnt/etc/ssh/sshd_config",
    " && echo 'root:${var.build_password}' | chroot /mnt chpasswd",
    " && umount /mnt && poweroff<enter>",
  ]
  ssh_username = "root"
  ssh_password = var.build_password
  ssh_timeout  = "15m"
}

build {
  sources = ["source.tart-cli.alpine"]

  # The shared script goes next to its Alpine entry, which looks for it there.
  provisioner "shell" {
    inline = ["mkdir -p /tmp/tidepool"]
  }

  provisioner "file" {
    source      = "${path.root}/scripts/workspace-setup.sh"
    destination = "/tmp/tidepool/workspace-setup.sh"
  }

  provisioner "shell" {
    script = "${path.root}/scripts/alpine-setup.sh"
    environment_vars = [
      "WORKSPACE_SETUP=/tmp/tidepool/workspace-setup.sh",
      "CODE_SERVER_INSTALL=${var.code_server_install}",
      "CODE_SERVER_VERSION=${var.code_server_version}",
      "NODE_MAJOR=${var.node_major}",
      "NPM_REGISTRY=${var.npm_registry}",
      # Enabled at boot, not started now: every workspace starts it with its own settings.
      "TIDEPOOL_START_SERVICE=0",
    ]
  }

  # Close the build's way in: root keeps only the key (no password, no password login).
  # The password becomes "*", not locked with `passwd -l`: Alpine's sshd has no PAM and refuses
  # every login, keys included, to an account whose password starts with "!" (locked).
  # Alpine has no `shutdown`, which the builder calls to stop the VM: give it one.
  provisioner "shell" {
    environment_vars = ["SSH_AUTHORIZED_KEY=${var.ssh_authorized_key}"]
    inline = [
      "set -eu",
      "install -d -m 700 /root/.ssh && printf '%s\\n' \"$SSH_AUTHORIZED_KEY\" > /root/.ssh/authorized_keys",
      "chmod 600 /root/.ssh/authorized_keys",
      "sed -i '/^PermitRootLogin yes$/d' /etc/ssh/sshd_config",
      "usermod -p '*' root",
      "command -v shutdown >/dev/null || printf '#!/bin/sh\\nexec poweroff\\n' > /usr/local/sbin/shutdown",
      "chmod 755 /usr/local/sbin/shutdown 2>/dev/null || true",
      "rm -rf /tmp/tidepool",
    ]
  }
}
