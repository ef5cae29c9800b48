#!/usr/bin/env bash
# Install the Debian packages Kartu Bahagia needs (when missing) and start pcscd.
# Runs as root, as on a fresh Debian machine or in CI; prefixes sudo otherwise.
set -euo pipefail

PACKAGES=(pcscd vsmartcard-vpcd libpcsclite-dev swig python3-venv fonts-dejavu-core softhsm2 opensc cups cups-client printer-driver-cups-pdf poppler-utils chromium)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# pcscd is socket-activated under systemd; without systemd (containers, CI) start it directly.
if ! pgrep -x pcscd >/dev/null; then
    echo "starting pcscd"
    as_root pcscd
    for _ in $(seq 50); do
        [ -S /run/pcscd/pcscd.comm ] && break
        sleep 0.1
    done
fi
