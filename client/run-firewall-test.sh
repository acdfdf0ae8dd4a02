#!/usr/bin/env bash
# Students behind a firewall, in real Chromium: a school network that lets out
# only TCP to the TURN/TLS port (and to the signaling port).
#
# On this machine only, with addresses that exist nowhere else:
#   host side   10.213.7.1/30  Podium (HTTP + WebRTC servers) and coturn
#   namespace   10.213.7.2/30  one Chromium student behind nftables that drops
#                              all UDP and all TCP but the TURN/TLS port and
#                              Podium's HTTP port on 10.213.7.1
# coturn runs with the config this script writes (use-auth-secret, TLS with a
# fresh self-signed certificate, private peers denied but Podium's address);
# client/tests/firewall.netns.mjs then starts Podium with [turn] pointing at
# it, a teacher goes live, an open student (host namespace) and the firewalled
# one watch, and each one's selected ICE candidate pair is printed and written
# to test-artifacts/firewall-candidates.json. Everything is torn down on exit.
#
# Needs root (network namespace, veth, nftables), coturn, nft, /usr/bin/chromium
# (scripts/setup --test), `npm ci` in client/ and target/debug/podium.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$here"

fail() { echo "client/run-firewall-test.sh: $*" >&2; exit 2; }
say() { printf '\033[1mfirewall-test:\033[0m %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || fail "needs root (ip netns, nftables)"
  exec sudo --preserve-env=PATH,PODIUM_BIN,CHROMIUM_PATH "$0" "$@"
fi
[ -d node_modules/playwright-core ] || fail "run 'npm ci' in client/ first"
[ -x "${PODIUM_BIN:-$root/target/debug/podium}" ] || fail "build the server first: cargo build -p podium-server --bin podium"
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "Chromium is missing: scripts/setup --test"
for tool in turnserver nft ip openssl python3; do
  command -v $tool >/dev/null || fail "$tool is missing: scripts/setup --test"
done

HOST_IP=10.213.7.1
NS_IP=10.213.7.2
NET=10.213.7.0/30
ns=podium-fw-$$
veth_host=pfw$$h
veth_ns=pfw$$n
artifacts=$root/test-artifacts
mkdir -p "$artifacts"
work=$(mktemp -d /tmp/podium-firewall.XXXXXX)
coturn_pid=

# One run at a time: the addresses are fixed.
exec 9>/tmp/podium-firewall-test.lock
flock -w 300 9 || fail "another firewall test holds /tmp/podium-firewall-test.lock"

cleanup() {
  set +e
  if [ -n "$coturn_pid" ]; then
    kill "$coturn_pid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$coturn_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$coturn_pid" 2>/dev/null
  fi
  ip netns del "$ns" 2>/dev/null
  ip link del "$veth_host" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A run killed before its trap may have left its veth: only ours carry $NET.
for stale in $(ip -o -4 addr show to "$NET" | awk '{print $2}'); do
  case "$stale" in pfw*) say "removing stale $stale"; ip link del "$stale" 2>/dev/null || true ;;
    *) fail "$NET is in use on $stale: this test needs it for itself" ;; esac
done
for stale in $(ip netns list | awk '/^podium-fw-/ {print $1}'); do
  pid=${stale#podium-fw-}
  kill -0 "$pid" 2>/dev/null || { say "removing stale namespace $stale"; ip netns del "$stale" || true; }
done

# --- the network: a namespace with a veth pair to this host -----------------
say "namespace $ns: $NS_IP behind a firewall, host side $HOST_IP"
ip netns add "$ns"
ip link add "$veth_host" type veth peer name "$veth_ns"
ip link set "$veth_ns" netns "$ns"
ip addr add "$HOST_IP/30" dev "$veth_host"
ip link set "$veth_host" up
ip netns exec "$ns" ip addr add "$NS_IP/30" dev "$veth_ns"
ip netns exec "$ns" ip link set "$veth_ns" up
ip netns exec "$ns" ip link set lo up
# No default route: the namespace reaches 10.213.7.1 and nothing else, even
# before the firewall (and even if this host forwards packets).

# Ports on the host-side address (nothing else binds it; a wildcard listener could).
free_port() { # free_port <preferred> <protocols...>: the preferred port if free for all, else a random one
  # (with SPAN=n, the n ports from it are all free; 2 by default)
  SPAN=${SPAN:-2} python3 - "$HOST_IP" "$@" <<'EOF'
import os, random, socket, sys
ip, preferred, protocols = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
span = int(os.environ["SPAN"])
def free(port):
    for proto in protocols:
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((ip, port))
        except OSError:
            return False
        finally:
            s.close()
    return True
candidates = [preferred] + [random.randint(20000, 39999) for _ in range(200)]
print(next(p for p in candidates if p and all(free(p + i) for i in range(span))))
EOF
}
http_port=$(free_port 8080 tcp)
turn_port=$(free_port 3478 udp tcp)
tls_port=$(free_port 443 tcp)
rtc_port=$(free_port 44444 udp tcp) # two workers: rtc_port and rtc_port + 1 (free_port checks both)
# Every TURN allocation takes a relay port, and each browser makes one per
# TURN URL it can reach (the open student reaches all three): 2 ports were a
# race between the students.
relay_min=$(SPAN=32 free_port 0 udp); relay_max=$((relay_min + 31))
say "Podium http $http_port, WebRTC servers udp/tcp $rtc_port-$((rtc_port + 1)); coturn $turn_port (udp, tcp), TLS $tls_port, relays $relay_min-$relay_max"

# --- the firewall inside the namespace --------------------------------------
cat > "$work/firewall.nft" <<EOF
table inet podium_firewall {
  chain output {
    type filter hook output priority filter; policy drop;
    oifname "lo" accept
    ct state established,related accept
    ip daddr $HOST_IP tcp dport { $http_port, $tls_port } accept
    meta l4proto udp counter drop comment "all UDP"
    meta l4proto tcp counter drop comment "TCP to any other port"
    counter drop comment "anything else"
  }
  chain input {
    type filter hook input priority filter; policy drop;
    iifname "lo" accept
    ct state established,related accept
    counter drop
  }
}
EOF
ip netns exec "$ns" nft -f "$work/firewall.nft"

# --- coturn -------------------------------------------------------------------
secret=$(openssl rand -hex 24)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=turn.podium.test" \
  -addext "subjectAltName=IP:$HOST_IP,DNS:turn.podium.test" \
  -keyout "$work/turn.key" -out "$work/turn.crt" 2>/dev/null
# Chromium checks TURN servers' certificates like a web site's: this one is
# accepted by its public key hash only, and only in the namespaced browser.
spki=$(openssl x509 -in "$work/turn.crt" -pubkey -noout | openssl pkey -pubin -outform der \
  | openssl dgst -sha256 -binary | base64)
cat > "$work/turnserver.conf" <<EOF
# As in docs/DEPLOY.md, on test addresses.
listening-ip=$HOST_IP
relay-ip=$HOST_IP
listening-port=$turn_port
tls-listening-port=$tls_port
alt-listening-port=$((turn_port + 1))
alt-tls-listening-port=$((tls_port + 1))
min-port=$relay_min
max-port=$relay_max
fingerprint
use-auth-secret
static-auth-secret=$secret
realm=podium.test
cert=$work/turn.crt
pkey=$work/turn.key
no-tlsv1
no-tlsv1_1
no-dtls
no-cli
no-multicast-peers
no-software-attribute
userdb=$work/turndb
pidfile=$work/turnserver.pid
log-file=$artifacts/firewall-coturn.log
simple-log
verbose
# Relays reach no private or special address but Podium's.
denied-peer-ip=0.0.0.0-0.255.255.255
denied-peer-ip=10.0.0.0-10.255.255.255
denied-peer-ip=100.64.0.0-100.127.255.255
denied-peer-ip=127.0.0.0-127.255.255.255
denied-peer-ip=169.254.0.0-169.254.255.255
denied-peer-ip=172.16.0.0-172.31.255.255
denied-peer-ip=192.168.0.0-192.168.255.255
allowed-peer-ip=$HOST_IP
EOF
rm -f "$artifacts/firewall-coturn.log"
turnserver -c "$work/turnserver.conf" > "$work/turnserver.out" 2>&1 &
coturn_pid=$!
for _ in $(seq 1 50); do
  python3 -c "import socket; socket.create_connection(('$HOST_IP', $tls_port), 0.2)" 2>/dev/null && break
  kill -0 "$coturn_pid" 2>/dev/null || { cat "$work/turnserver.out" >&2; fail "coturn exited"; }
  sleep 0.2
done
say "coturn (pid $coturn_pid) listening"
# The rules hold with coturn listening on both ports: from the namespace its
# TLS port answers, its plain port (TCP and UDP) does not.
ip netns exec "$ns" python3 -c "import socket; socket.create_connection(('$HOST_IP', $tls_port), 2)" \
  || fail "the namespace cannot reach coturn's TLS port $HOST_IP:$tls_port"
if ip netns exec "$ns" python3 -c "import socket; s=socket.create_connection(('$HOST_IP', $turn_port), 2)" 2>/dev/null; then
  fail "the firewall let TCP through to $HOST_IP:$turn_port"
fi

# --- Chromium inside the namespace ----------------------------------------------
cat > "$work/chromium-in-namespace" <<EOF
#!/bin/sh
exec ip netns exec $ns $chromium "\$@"
EOF
chmod +x "$work/chromium-in-namespace"

npm run --silent build
status=0
FW_HOST_IP=$HOST_IP FW_NS_IP=$NS_IP FW_HTTP_PORT=$http_port FW_RTC_PORT=$rtc_port \
FW_TURN_PORT=$turn_port FW_TLS_PORT=$tls_port FW_TURN_SECRET=$secret FW_TURN_SPKI=$spki \
FW_CHROMIUM=$work/chromium-in-namespace FW_WORK=$work \
  node --test --test-reporter=spec tests/firewall.netns.mjs || status=$?

# What the firewall dropped: the firewalled student did try UDP and other ports.
ip netns exec "$ns" nft list table inet podium_firewall > "$artifacts/firewall-nft.txt" || true
udp_dropped=$(sed -nE 's/.*counter packets ([0-9]+) bytes [0-9]+ drop comment "all UDP".*/\1/p' "$artifacts/firewall-nft.txt")
if [ "${udp_dropped:-0}" = 0 ] && [ $status = 0 ]; then
  echo "client/run-firewall-test.sh: the firewall dropped no UDP: did the student run in the namespace?" >&2
  status=1
fi
say "dropped in the namespace: $(grep -o 'counter packets [0-9]* bytes [0-9]* drop comment "[^"]*"' "$artifacts/firewall-nft.txt" \
  | sed -E 's/counter packets ([0-9]+) bytes [0-9]+ drop comment "(.*)"/\2: \1 packets/' | paste -sd ';' -)"
exit $status
