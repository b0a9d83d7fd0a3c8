#!/usr/bin/env bash
# Runs every test of the workspace on a fresh Debian machine with the Rust toolchain: installs what
# the tests need, checks formatting and lints, runs the unit, property, format, loader and CLI
# tests, the kernel tests in a real IPVS kernel under qemu (scripts/kernel-tests.sh, as root: it
# installs qemu and fetches Debian's kernel package), and builds every fuzz target (and runs each
# briefly as a smoke test).
#
# This is the README's "run every test" command; .ci/run calls it.
#
# Environment:
#   FUZZ_SECONDS  seconds to run each fuzz target (default 10; 0 = build only)
#   KERNEL_TESTS  1 = run the kernel tests (default); 0 = skip them (a machine without qemu)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
log() { printf '\n=== %s ===\n' "$*"; }

log "system packages"
# The binaries resolve port names through /etc/services (Debian's netbase), as operators' machines do.
if [ ! -f /etc/services ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq netbase
  else
    echo "warning: /etc/services is missing; the built-in port table is used" >&2
  fi
fi
# lvs-probe's daemon tests start a real nginx (http, https) and NSD (authoritative DNS) on
# loopback addresses with their own temporary configuration.
if [ ! -x /usr/sbin/nginx ] || [ ! -x /usr/sbin/nsd ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light nsd ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx nsd
  else
    echo "warning: nginx or nsd is missing; lvs-probe's daemon tests will fail" >&2
  fi
fi

log "toolchain"
cargo --version
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

log "format"
cargo fmt --all -- --check

log "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# lvs-necp without its drivers and monitors: the codec and the sessions alone, sans-IO.
cargo clippy -p lvs-necp --no-default-features --all-targets --locked -- -D warnings

log "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

log "tests"
cargo test --workspace --locked

log "kernel tests (real IPVS under qemu)"
if [ "${KERNEL_TESTS:-1}" = 1 ]; then
  bash scripts/kernel-tests.sh
else
  echo "skipped (KERNEL_TESTS=${KERNEL_TESTS})"
fi

log "library examples"
cargo run -q --locked -p lvs-core --example wanted_table -- examples/surealived/demo.xml
cargo run -q --locked -p lvs-core --example custom_tester
cargo run -q --locked -p lvs-core --example control_port
cargo run -q --locked -p lvs-probe --example custom_prober
cargo run -q --locked -p lvs-probe --example engine
cargo run -q --locked -p lvs-necp --example custom_monitor
cargo run -q --locked -p lvs-necp --example loopback_pair

log "lvs-core, and lvs-necp without default features, have no tokio"
if cargo tree -p lvs-core -e normal --locked | grep -q tokio; then
  echo "lvs-core depends on tokio" >&2
  exit 1
fi
if cargo tree -p lvs-necp --no-default-features -e normal --locked | grep -q tokio; then
  echo "lvs-necp --no-default-features depends on tokio" >&2
  exit 1
fi

log "fuzz targets"
( cd fuzz && cargo +nightly fuzz build -O )
# Seeds for each target: the repository's own examples and fixtures of that format.
seed_files() {
  case "$1" in
    xml_config) ls examples/surealived/*.xml examples/broken/*.xml 2>/dev/null ;;
    surealived_cfg) ls examples/surealived/*.cfg 2>/dev/null ;;
    feedbackd_config) ls examples/feedbackd/* examples/broken-feedbackd/*.conf /etc/services 2>/dev/null ;;
    ipvsfull) ls lvs-core/tests/fixtures/*ipvsfull* 2>/dev/null ;;
    diff_file) ls lvs-core/tests/fixtures/*diff* 2>/dev/null ;;
    dumps) ls lvs-core/tests/fixtures/*.dump 2>/dev/null ;;
    control_request) ls lvs-core/tests/fixtures/control/*.req 2>/dev/null ;;
  esac
}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  for target in $(cd fuzz && cargo +nightly fuzz list); do
    echo "--- $target (${FUZZ_SECONDS}s)"
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    for f in $(seed_files "$target"); do cp "$f" "$corpus/seed-$(basename "$f")"; done
    if [ "$target" = ipvs_reply ]; then
      # Replies captured from the kernel (lvs-ipvs/testdata, one netlink message in hex per line):
      # the generic-netlink payload after the 16-byte nlmsghdr is what the target parses.
      python3 - "$corpus" lvs-ipvs/testdata/*.hex <<'PY'
import sys
out = sys.argv[1]
for path in sys.argv[2:]:
    for i, line in enumerate(open(path)):
        line = line.strip()
        if line and not line.startswith('#'):
            data = bytes.fromhex(line)[16:]
            name = path.rsplit('/', 1)[-1].removesuffix('.hex')
            open(f"{out}/seed-{name}-{i}", "wb").write(data)
PY
    fi
    if [ "$target" = necp_frames ]; then
      # The annotated vectors of lvs-necp's codec tests (`const NAME: &str = "<hex # comments>";`),
      # one frame per seed and all of them as one stream; the first byte seeds the chunk sizes.
      python3 - "$corpus" lvs-necp/tests/codec.rs <<'PY'
import re, sys
out, src = sys.argv[1], sys.argv[2]
frames = []
for name, body in re.findall(r'const (\w+): &str = "(.*?)";', open(src).read(), re.S):
    digits = ''.join(line.split('#')[0] for line in body.splitlines())
    frames.append(bytes.fromhex(digits))
    open(f"{out}/seed-{name.lower()}", "wb").write(b"\x07" + frames[-1])
open(f"{out}/seed-all", "wb").write(b"\x2a" + b"".join(frames))
PY
    fi
    logf="target/fuzz-$target.log"
    mkdir -p target
    if ! (cd fuzz && cargo +nightly fuzz run -O "$target" "../$corpus" -- \
        -max_total_time="$FUZZ_SECONDS" -print_final_stats=1) >"$logf" 2>&1; then
      tail -n 60 "$logf" >&2
      echo "fuzz target $target failed" >&2
      exit 1
    fi
    grep -E 'stat::number_of_executed_units' "$logf" || true
  done
fi

log "all tests passed"
