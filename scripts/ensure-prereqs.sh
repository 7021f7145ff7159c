#!/usr/bin/env bash
# Make sure this machine can run the project: `ensure-prereqs.sh demo` checks what the
# demo needs (a Python venv module, a MariaDB server binary and client: the demo starts
# its own throwaway server); `ensure-prereqs.sh test` (the default) adds what only the
# tests need (php-cli, Chromium, and galera-4 and rsync for the cluster tests).
# As root with apt-get, install what is missing; otherwise say what to install.
set -euo pipefail
purpose="${1:-test}"

have_server() {
  command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 ||
    [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]
}
have_client() { command -v mariadb >/dev/null 2>&1 || command -v mysql >/dev/null 2>&1; }
have_venv() { python3 -c 'import venv, ensurepip' >/dev/null 2>&1; }
# The web tests run the PHP we ship (OpenEMR menu module) with php-cli and drive a real
# headless Chromium.
have_php() { command -v php >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }
# The cluster tests start a 3-node MariaDB Galera cluster: Debian's galera-4 provider,
# and rsync for the state transfer that lets a node join.
have_galera() { [ -f /usr/lib/galera/libgalera_smm.so ] || [ -f /usr/lib/libgalera_smm.so ]; }
have_rsync() { command -v rsync >/dev/null 2>&1; }

missing=()
have_server || missing+=(mariadb-server)
have_client || missing+=(mariadb-client)
have_venv || missing+=(python3-venv)
if [ "$purpose" = test ]; then
  have_php || missing+=(php-cli)
  have_chromium || missing+=(chromium)
  have_galera || missing+=(galera-4)
  have_rsync || missing+=(rsync)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} with apt-get ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  exit 0
fi
echo "Missing: ${missing[*]}. Install them (e.g. 'sudo apt-get install ${missing[*]}') and run make again." >&2
exit 1
