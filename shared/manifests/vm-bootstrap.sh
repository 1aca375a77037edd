#!/bin/bash
# istio-vm-registrar: VM bootstrap (cloud-init user-data).
#
# Joins this EC2 instance to the mesh as a member of one WorkloadGroup: installs Istio's sidecar
# package for the mesh's version, fetches the group's files from SSM Parameter Store into Istio's
# standard locations, points istiod's name at the east-west gateway (private hosted zone, or a
# managed block in /etc/hosts), starts the sidecar, and installs a systemd timer that runs
# `istio-vm-bootstrap refresh`: re-fetch the token well before it expires, follow the gateway's
# addresses, and restart the sidecar only when its configuration changed.
#
# Running it again changes nothing that is already right. Needs: root, IMDSv2, the AWS CLI, curl,
# systemd, and an instance role that may read the group's parameters (see README.md).
set -euo pipefail

# --- settings (written by `vm-registrar bootstrap user-data`) ---
GROUP='bookinfo/reviews'
PARAMETER_PATH='/istio-vm-registrar/bootstrap/bookinfo/reviews'
REFRESH_INTERVAL='30min'
# --- end of settings ---

# Install under another root (tests), and the account the sidecar runs as (its package creates it).
ROOT="${VM_BOOTSTRAP_ROOT:-}"
PROXY_USER="${ISTIO_PROXY_USER:-istio-proxy}"
MODE="${1:-install}"

SELF=/usr/local/sbin/istio-vm-bootstrap
TOKEN_FILE=/var/lib/istio/tokens/istio-token
TOKEN_LINK=/var/run/secrets/tokens/istio-token
HOSTS_BEGIN='# BEGIN istio-vm-registrar: istiod through the east-west gateway (istio-vm-bootstrap keeps this block)'
HOSTS_END='# END istio-vm-registrar'
IMDS=http://169.254.169.254/latest
PARAMETERS=(cluster.env mesh.yaml root-cert.pem bootstrap.env istio-token)

CHANGED=()
PACKAGE_CHANGED=0
FAILED=0

log() { printf 'istio-vm-bootstrap: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

imds_token=''
# imds PATH: an instance metadata value, through IMDSv2.
imds() {
  if [[ -z "$imds_token" ]]; then
    imds_token="$(curl -sSf --retry 5 --retry-connrefused -X PUT \
      -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/api/token")" ||
      die "IMDSv2 did not answer (is the metadata service enabled with tokens?)"
  fi
  curl -sSf --retry 5 -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/meta-data/$1"
}

discover() {
  INSTANCE_ID="$(imds instance-id)"
  PRIVATE_IP="$(imds local-ipv4)"
  REGION="$(imds placement/region)"
  local mac
  mac="$(imds mac)"
  VPC_ID="$(imds "network/interfaces/macs/$mac/vpc-id")"
  [[ "$INSTANCE_ID" =~ ^i-[0-9a-f]+$ ]] || die "unexpected instance id '$INSTANCE_ID'"
  [[ "$PRIVATE_IP" =~ ^[0-9]+(\.[0-9]+){3}$ ]] || die "unexpected private IPv4 '$PRIVATE_IP'"
}

# parameter NAME FILE: the group's parameter NAME into FILE. Retries what may pass (credentials not
# there yet at first boot, throttling); a parameter that does not exist fails at once.
parameter() {
  local name="$1" file="$2" attempt error
  for attempt in 1 2 3 4 5 6 7 8; do
    if error="$(aws ssm get-parameter --region "$REGION" --name "$PARAMETER_PATH/$name" \
      --with-decryption --query Parameter.Value --output text 2>&1 >"$file")"; then
      return 0
    fi
    if [[ "$error" == *ParameterNotFound* || "$error" == *AccessDenied* ]]; then break; fi
    sleep $((attempt * 3))
  done
  die "cannot read $PARAMETER_PATH/$name: ${error##*$'\n'}"
}

# setting KEY: a value of bootstrap.env (parsed, never sourced: only plain words are accepted).
setting() {
  local line
  line="$(grep -E "^$1=[A-Za-z0-9_.,:/+-]*$" "$STAGE/bootstrap.env" || true)"
  [[ -n "$line" ]] || die "bootstrap.env has no usable $1"
  printf '%s' "${line#*=}"
}

fetch_bundle() {
  STAGE="$(mktemp -d)"
  trap 'rm -rf "$STAGE"' EXIT
  local name value
  for name in "${PARAMETERS[@]}"; do
    parameter "$name" "$STAGE/$name"
    # Text files end in exactly one newline (the CLI adds one to what is stored).
    value="$(cat "$STAGE/$name")"
    printf '%s\n' "$value" >"$STAGE/$name"
  done
  [[ "$(setting WORKLOAD_GROUP)" == "$GROUP" ]] || die "the parameters under $PARAMETER_PATH are not group $GROUP's"
  ISTIO_VERSION="$(setting ISTIO_VERSION)"
  ISTIOD_HOST="$(setting ISTIOD_HOST)"
  # The token file has no newline, as istioctl writes it.
  TOKEN="$(cat "$STAGE/istio-token")"
  [[ "$TOKEN" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || die "the istio-token parameter is not a token"
  printf '%s' "$TOKEN" >"$STAGE/istio-token"
  # cluster.env of this instance: the group's, the entry the registrar writes for it
  # (<group>-<instance-id>) and its address, as istiod matches the proxy to the entry.
  {
    cat "$STAGE/cluster.env"
    printf 'ISTIO_META_WORKLOAD_ENTRY=%s-%s\n' "${GROUP#*/}" "$INSTANCE_ID"
    printf 'ISTIO_SVC_IP=%s\n' "$PRIVATE_IP"
  } >"$STAGE/cluster.env.instance"
}

# put_file SOURCE DEST MODE [OWNER]: DEST gets SOURCE's content, MODE (and OWNER), replaced in one
# step; left alone when it has them already. Records DEST in CHANGED when it wrote.
put_file() {
  local src="$1" dest="$2" mode="$3" owner="${4:-}" tmp
  if [[ -f "$dest" && ! -L "$dest" ]] && cmp -s "$src" "$dest" &&
    [[ "$(stat -c %a "$dest")" == "$mode" ]] &&
    [[ -z "$owner" || "$(stat -c %U "$dest")" == "$owner" ]]; then
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  tmp="$(mktemp "$dest.XXXXXX")"
  cat "$src" >"$tmp"
  chmod "$mode" "$tmp"
  if [[ -n "$owner" ]]; then chown "$owner:" "$tmp"; fi
  mv -f "$tmp" "$dest"
  CHANGED+=("$dest")
  log "wrote $dest"
}

# put_dir DIR MODE [OWNER]
put_dir() {
  local dir="$1" mode="$2" owner="${3:-}"
  if [[ ! -d "$dir" ]]; then
    mkdir -p "$dir"
    CHANGED+=("$dir")
  fi
  if [[ "$(stat -c %a "$dir")" != "$mode" ]]; then
    chmod "$mode" "$dir"
    CHANGED+=("$dir")
  fi
  if [[ -n "$owner" && "$(stat -c %U "$dir")" != "$owner" ]]; then
    chown "$owner:" "$dir"
    CHANGED+=("$dir")
  fi
}

# put_link TARGET LINK
put_link() {
  if [[ "$(readlink "$2" || true)" != "$1" ]]; then
    ln -sfn "$1" "$2"
    CHANGED+=("$2")
    log "linked $2 -> $1"
  fi
}

# put_text DEST MODE: DEST gets standard input.
put_text() {
  local text
  text="$(mktemp)"
  cat >"$text"
  put_file "$text" "$1" "$2"
  rm -f "$text"
}

install_package() {
  local arch suffix installed format url download
  case "$(uname -m)" in
    x86_64 | amd64) suffix='' ;;
    aarch64 | arm64) suffix='-arm64' ;;
    *) die "no Istio sidecar package for $(uname -m)" ;;
  esac
  if command -v dpkg-query >/dev/null; then
    format=deb
    installed="$(dpkg-query -W -f='${Version}' istio-sidecar 2>/dev/null || true)"
  elif command -v rpm >/dev/null; then
    format=rpm
    installed="$(rpm -q --qf '%{VERSION}' istio-sidecar 2>/dev/null || true)"
  else
    die "neither dpkg nor rpm: cannot install Istio's sidecar package"
  fi
  if [[ "$installed" == "$ISTIO_VERSION" ]]; then return 0; fi
  if [[ -n "$installed" && "$installed" != *"not installed"* ]]; then
    log "sidecar $installed installed, mesh at $ISTIO_VERSION: replacing it"
  fi
  arch="istio-sidecar$suffix.$format"
  url="https://storage.googleapis.com/istio-release/releases/$ISTIO_VERSION/$format/$arch"
  download="$(mktemp -d)"
  curl -sSfL --retry 5 -o "$download/$arch" "$url" || die "cannot download $url"
  curl -sSfL --retry 5 -o "$download/$arch.sha256" "$url.sha256" || die "cannot download $url.sha256"
  [[ "$(cut -d' ' -f1 "$download/$arch.sha256")" == "$(sha256sum "$download/$arch" | cut -d' ' -f1)" ]] ||
    die "$arch does not match its published SHA-256"
  if [[ "$format" == deb ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$download/$arch" >&2
  elif command -v dnf >/dev/null; then
    dnf install -y "$download/$arch" >&2
  else
    yum install -y "$download/$arch" >&2
  fi
  rm -rf "$download"
  PACKAGE_CHANGED=1
  log "installed Istio sidecar $ISTIO_VERSION"
}

install_files() {
  put_dir "$ROOT/etc/certs" 755 "$PROXY_USER"
  put_dir "$ROOT/var/lib/istio/envoy" 755 "$PROXY_USER"
  put_dir "$ROOT/etc/istio/config" 755 "$PROXY_USER"
  put_dir "$ROOT/etc/istio/proxy" 755 "$PROXY_USER"
  put_dir "$ROOT/var/lib/istio/tokens" 700 "$PROXY_USER"
  put_dir "$ROOT/var/run/secrets/tokens" 755 "$PROXY_USER"
  put_file "$STAGE/root-cert.pem" "$ROOT/etc/certs/root-cert.pem" 644 "$PROXY_USER"
  put_file "$STAGE/cluster.env.instance" "$ROOT/var/lib/istio/envoy/cluster.env" 644 "$PROXY_USER"
  put_file "$STAGE/mesh.yaml" "$ROOT/etc/istio/config/mesh" 644 "$PROXY_USER"
  # The token lives outside /var/run (a tmpfs: gone after a reboot); Istio's agent reads it through
  # the link at its standard path, which systemd-tmpfiles puts back at every boot.
  put_file "$STAGE/istio-token" "$ROOT$TOKEN_FILE" 600 "$PROXY_USER"
  put_link "$TOKEN_FILE" "$ROOT$TOKEN_LINK"
  put_text "$ROOT/etc/tmpfiles.d/istio-vm-bootstrap.conf" 644 <<EOF
d /run/secrets/tokens 0755 $PROXY_USER $PROXY_USER -
L+ /run/secrets/tokens/istio-token - - - - $TOKEN_FILE
EOF
  write_hosts
}

# The hosts block: none when this VPC resolves the private hosted zone; else the gateway's current
# addresses, from its DNS name, or the ones the bundle carries. Never an empty block.
write_hosts() {
  local zone_vpcs addresses current wanted
  zone_vpcs=",$(setting ZONE_VPC_IDS),"
  current="$ROOT/etc/hosts"
  [[ -f "$current" ]] || : >"$current"
  wanted="$(mktemp)"
  awk -v begin="$HOSTS_BEGIN" -v end="$HOSTS_END" '
    $0 == begin { skip = 1; next }
    $0 == end { skip = 0; next }
    !skip { print }' "$current" >"$wanted"
  if [[ "$zone_vpcs" != *",$VPC_ID,"* ]]; then
    addresses="$(getent ahostsv4 "$(setting GATEWAY_DNS_NAME)" | awk '{ print $1 }' | sort -u || true)"
    if [[ -z "$addresses" ]]; then
      addresses="$(setting GATEWAY_ADDRESSES | tr ',' '\n' | sort -u)"
    fi
    if [[ -z "$addresses" ]]; then
      log "no address for the gateway: the hosts block is left as it is"
      FAILED=1
      rm -f "$wanted"
      return 0
    fi
    {
      printf '%s\n' "$HOSTS_BEGIN"
      printf '%s\n' "$addresses" | awk -v host="$ISTIOD_HOST" 'NF { print $1 " " host }'
      printf '%s\n' "$HOSTS_END"
    } >>"$wanted"
  fi
  if ! cmp -s "$wanted" "$current"; then
    # Same file, same owner and mode: cloud-init and others keep their view of it.
    cat "$wanted" >"$current"
    CHANGED+=("$current")
    log "updated the istiod entries in $current"
  fi
  rm -f "$wanted"
}

install_units() {
  put_file "${BASH_SOURCE[0]}" "$ROOT$SELF" 755
  put_text "$ROOT/etc/systemd/system/istio-vm-refresh.service" 644 <<EOF
[Unit]
Description=istio-vm-registrar: Istio token, configuration and istiod address from SSM ($GROUP)
Wants=network-online.target
After=network-online.target
Before=istio.service

[Service]
Type=oneshot
ExecStart=$SELF refresh

[Install]
WantedBy=multi-user.target
EOF
  put_text "$ROOT/etc/systemd/system/istio-vm-refresh.timer" 644 <<EOF
[Unit]
Description=istio-vm-registrar: refresh the Istio token every $REFRESH_INTERVAL

[Timer]
OnBootSec=5min
OnUnitActiveSec=$REFRESH_INTERVAL
RandomizedDelaySec=2min

[Install]
WantedBy=timers.target
EOF
}

changed() {
  local path
  for path in ${CHANGED[@]+"${CHANGED[@]}"}; do
    if [[ "$path" == "$ROOT$1"* ]]; then return 0; fi
  done
  return 1
}

start_services() {
  if changed /etc/systemd/system/; then systemctl daemon-reload; fi
  local unit
  for unit in istio-vm-refresh.service istio-vm-refresh.timer istio.service; do
    systemctl is-enabled --quiet "$unit" || systemctl enable "$unit"
  done
  systemctl is-active --quiet istio-vm-refresh.timer || systemctl start istio-vm-refresh.timer
  if systemctl is-active --quiet istio.service; then
    restart_if_needed
  else
    systemctl start istio.service
  fi
}

# The sidecar reads its configuration, root certificate and package at start: restart it when one
# changed. A new token needs nothing (the agent reads the file at each certificate request), nor
# does a new gateway address (resolved at each connection).
restart_if_needed() {
  if ((PACKAGE_CHANGED)) || changed /var/lib/istio/envoy/cluster.env || changed /etc/istio/config/mesh ||
    changed /etc/certs/root-cert.pem; then
    # --no-block: this may run ordered before istio.service, which would wait for it to end.
    systemctl --no-block try-restart istio.service
    log "restarting the sidecar for its new configuration"
  fi
}

# The token's expiry (JWT claim exp), so an expired token is noticed here and not only by istiod.
check_token() {
  local payload exp
  payload="$(cut -d. -f2 <<<"$TOKEN" | tr '_-' '/+')"
  while ((${#payload} % 4)); do payload+='='; done
  exp="$(base64 -d <<<"$payload" 2>/dev/null | sed -n 's/.*"exp":\([0-9]*\).*/\1/p')"
  if [[ -n "$exp" && "$exp" -le "$(date +%s)" ]]; then
    log "the token in $PARAMETER_PATH/istio-token expired at $(date -u -d "@$exp" +%FT%TZ): the bootstrap function has not refreshed it"
    FAILED=1
  fi
}

version_note() {
  local installed=''
  if command -v dpkg-query >/dev/null; then
    installed="$(dpkg-query -W -f='${Version}' istio-sidecar 2>/dev/null || true)"
  elif command -v rpm >/dev/null; then
    installed="$(rpm -q --qf '%{VERSION}' istio-sidecar 2>/dev/null || true)"
  fi
  if [[ -n "$installed" && "$installed" != "$ISTIO_VERSION" ]]; then
    log "the mesh is at Istio $ISTIO_VERSION, this VM's sidecar at $installed: replace the instance to upgrade it"
  fi
}

main() {
  case "$MODE" in
    install)
      if [[ -z "$ROOT" && "$(id -u)" -ne 0 ]]; then die "run as root"; fi
      command -v aws >/dev/null || die "the AWS CLI is needed to read the bundle from SSM"
      discover
      fetch_bundle
      install_package
      install_files
      install_units
      start_services
      ;;
    refresh)
      discover
      fetch_bundle
      install_files
      version_note
      restart_if_needed
      ;;
    *) die "usage: istio-vm-bootstrap [install|refresh]" ;;
  esac
  check_token
  if ((FAILED)); then exit 1; fi
  log "$MODE done: ${#CHANGED[@]} change(s)"
}

main
