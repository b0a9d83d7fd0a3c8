#!/usr/bin/env bash
# Runs the workspace's kernel tests in a real Linux kernel with IPVS, booted under qemu (TCG).
#
# The build and CI machines run a kernel without IPVS, so this script boots Debian's cloud kernel
# with a tiny initramfs: busybox, the IPVS and netfilter modules, Debian's ipvsadm with its
# libraries (an independent witness, at $LVS_IPVSADM in the guest) and the workspace's test
# binaries, built static. The guest's /init (scripts/qemu/init) loads ip_vs, runs every test binary
# with `--ignored --test-threads=1`, prints a sentinel line with the exit status and powers off; this
# side streams the serial console and fails when the sentinel is missing or non-zero.
# See docs/kernel-tests.md.
#
# Usage:
#   scripts/kernel-tests.sh           run the kernel tests (scripts/qemu/test-targets)
#   scripts/kernel-tests.sh --bench   run the apply benchmark (lvs-benches' ipvs-guest-bench) instead
#
# Environment:
#   KERNEL_TESTS_TIMEOUT   seconds for the whole boot (default 900; 1800 with --bench)
#   KERNEL_TESTS_MEM       guest memory in MiB (default 1024)
#   KERNEL_TESTS_REFRESH   1 = download the kernel package again even if target/kernel has one
#   KERNEL_PACKAGE         the kernel meta package (default linux-image-cloud-amd64)
#   BENCH_ARGS             arguments of the benchmark binary (default: --services 10000 --dests 5)
#   KERNEL_TESTS_ARGS      more arguments for every test binary, e.g. a test name filter
#   KERNEL_TESTS_KEEP_DEBUG  1 = copy the binaries with their debug info (needs a larger KERNEL_TESTS_MEM)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=tests
case "${1:-}" in
  "") ;;
  --bench) MODE=bench ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [--bench]" >&2
    exit 2
    ;;
esac

if [ "$MODE" = bench ]; then
  TIMEOUT=${KERNEL_TESTS_TIMEOUT:-1800}
else
  TIMEOUT=${KERNEL_TESTS_TIMEOUT:-900}
fi
MEM=${KERNEL_TESTS_MEM:-1024}
KERNEL_PACKAGE=${KERNEL_PACKAGE:-linux-image-cloud-amd64}
BENCH_ARGS=${BENCH_ARGS:---services 10000 --dests 5}
TARGET=x86_64-unknown-linux-gnu
WORK=$ROOT/target/kernel
SENTINEL=KERNEL-TESTS-SENTINEL

log() { printf '\n=== kernel-tests: %s ===\n' "$*"; }
die() {
  echo "kernel-tests: $*" >&2
  exit 1
}

# One run at a time per checkout: runs share target/kernel.
mkdir -p "$WORK"
exec 9>"$WORK/lock"
if ! flock -n 9; then
  echo "kernel-tests: waiting for another run in this checkout to finish"
  flock 9
fi

# --- host packages -------------------------------------------------------------------------------
log "host packages"
apt_updated=
apt_update_once() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
}
missing=()
for pkg in qemu-system-x86 busybox-static kmod cpio ipvsadm jq file binutils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages ${missing[*]} (run as root, or install them)"
  echo "installing ${missing[*]}"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
IPVSADM=$(command -v ipvsadm || echo /usr/sbin/ipvsadm)
[ -x "$IPVSADM" ] || die "ipvsadm not found after installing it"
[ -x /bin/busybox ] || die "/bin/busybox not found after installing busybox-static"

# --- kernel package (cached under target/kernel/debs) --------------------------------------------
log "kernel"
DEBS=$WORK/debs
mkdir -p "$DEBS"
[ "${KERNEL_TESTS_REFRESH:-0}" = 1 ] && rm -f "$DEBS"/*.deb "$DEBS"/kernel-deb
apt_download() {
  # apt's sandbox user cannot write to target/: download as the current user, quietly.
  (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$@" >/dev/null) ||
    { apt_update_once && (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$@" >/dev/null); }
}
if [ ! -s "$DEBS/kernel-deb" ] || [ ! -f "$DEBS/$(cat "$DEBS/kernel-deb")" ]; then
  rm -f "$DEBS"/*.deb
  apt_download "$KERNEL_PACKAGE"
  meta=$(ls "$DEBS"/"${KERNEL_PACKAGE}"_*.deb)
  real=$(dpkg-deb -f "$meta" Depends | tr ',|' '\n' | grep -o 'linux-image-[0-9][^ ]*' | head -n 1)
  [ -n "$real" ] || die "no kernel image in the Depends of $meta"
  apt_download "$real"
  (cd "$DEBS" && ls "${real}"_*.deb) > "$DEBS/kernel-deb"
fi
KDEB=$DEBS/$(cat "$DEBS/kernel-deb")
KROOT=$WORK/root-$(basename "$KDEB" .deb)
if [ ! -d "$KROOT" ]; then
  rm -rf "$KROOT.tmp"
  dpkg-deb -x "$KDEB" "$KROOT.tmp"
  mv "$KROOT.tmp" "$KROOT"
fi
KVER=$(ls "$KROOT/lib/modules")
VMLINUZ=$KROOT/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || die "no vmlinuz in $KDEB"
[ -f "$KROOT/lib/modules/$KVER/modules.dep" ] || depmod -b "$KROOT" "$KVER"
echo "kernel $KVER from $(basename "$KDEB")"

# --- guest binaries (static, for the gnu target so proc-macros and build scripts stay dynamic) ---
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
RUN=() # commands the guest runs, in order
COPY=() # files copied into the initramfs at their absolute host path

artifacts() { # cargo args... -> "test<TAB>path" per executable built
  cargo "$@" --locked --target "$TARGET" --message-format=json |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null)
           | [(.profile.test | tostring), .executable] | @tsv'
}

if [ "$MODE" = tests ]; then
  log "test binaries"
  while read -r line; do
    case "$line" in '' | '#'*) continue ;; esac
    # shellcheck disable=SC2086 # a line of cargo arguments
    arts=$(artifacts test --no-run $line)
    while IFS=$'\t' read -r is_test exe; do
      [ -n "$exe" ] || continue
      if [ "$is_test" != true ]; then
        COPY+=("$exe") # a binary target, for the CARGO_BIN_EXE_* of integration tests
        continue
      fi
      n=$("$exe" --list --ignored --format=terse 2>/dev/null | grep -c ': test$' || true)
      if [ "$n" -gt 0 ]; then
        echo "$(basename "$exe"): $n ignored tests"
        COPY+=("$exe")
        RUN+=("$exe --ignored --test-threads=1${KERNEL_TESTS_ARGS:+ $KERNEL_TESTS_ARGS}")
      fi
    done <<<"$arts"
  done <"$ROOT/scripts/qemu/test-targets"
  [ ${#RUN[@]} -gt 0 ] || die "no test binary with ignored tests in scripts/qemu/test-targets"
else
  log "benchmark binary"
  arts=$(artifacts build --release -p lvs-benches --bin ipvs-guest-bench)
  exe=$(cut -f2 <<<"$arts" | grep '/ipvs-guest-bench$' | head -n 1)
  [ -n "$exe" ] || die "ipvs-guest-bench was not built"
  COPY+=("$exe")
  RUN+=("$exe $BENCH_ARGS")
fi
for exe in "${COPY[@]}"; do
  file "$exe" | grep -Eq 'statically linked|static-pie linked' || die "$exe is not statically linked"
done

# --- initramfs -----------------------------------------------------------------------------------
log "initramfs"
FS=$WORK/initramfs-$MODE
rm -rf "$FS"
mkdir -p "$FS"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,kernel-tests}
cp /bin/busybox "$FS/bin/busybox"
ln -s /bin/busybox "$FS/sbin/modprobe" # the kernel runs it to load schedulers on demand
cp "$ROOT/scripts/qemu/init" "$FS/init"
chmod 755 "$FS/init"
for f in /etc/services /etc/protocols; do [ -f "$f" ] && cp "$f" "$FS$f"; done

# Modules: every IPVS module with its dependencies, plus crc32c_generic (libcrc32c's soft dependency).
MODDIR=$KROOT/lib/modules/$KVER
mapfile -t ipvs_mods < <(find "$MODDIR/kernel/net/netfilter/ipvs" -name '*.ko*' -printf '%f\n' | sed 's/\.ko.*//' | sort)
{
  modprobe -d "$KROOT" -S "$KVER" --show-depends -a "${ipvs_mods[@]}"
  modprobe -d "$KROOT" -S "$KVER" --show-depends crc32c_generic 2>/dev/null || true
} | awk '$1 == "insmod" { print $2 }' | sort -u | while read -r ko; do
  rel=${ko#"$KROOT"/}
  mkdir -p "$FS/$(dirname "$rel")"
  cp "$ko" "$FS/$rel"
done
cp "$MODDIR"/modules.order "$MODDIR"/modules.builtin "$MODDIR"/modules.builtin.modinfo "$FS/lib/modules/$KVER/"
depmod -b "$FS" "$KVER"
# Loaded at boot: ip_vs and the schedulers the tests use most; the others load on demand.
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_wlc ip_vs_sh ip_vs_mh; do
  [[ " ${ipvs_mods[*]} " == *" $m "* ]] && echo "$m"
done >"$FS/kernel-tests/modules"
echo "modules: $(find "$FS/lib/modules" -name '*.ko*' | wc -l) files"

# ipvsadm and the libraries it links (with the dynamic loader).
cp "$IPVSADM" "$FS/usr/sbin/ipvsadm"
ldd "$IPVSADM" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u | while read -r lib; do
  mkdir -p "$FS$(dirname "$lib")"
  cp -L "$lib" "$FS$lib"
done

for exe in "${COPY[@]}"; do
  mkdir -p "$FS$(dirname "$exe")"
  cp "$exe" "$FS$exe"
  # DWARF is most of a debug binary (a 67 MB daemon is 13 MB without it) and the initramfs is
  # unpacked into the guest's memory, where 440 MB of test binaries no longer fit in 1 GiB. The
  # copies keep their symbols: backtraces name the functions, panic messages keep file and line.
  [ "${KERNEL_TESTS_KEEP_DEBUG:-0}" = 1 ] || strip --strip-debug "$FS$exe"
done
echo "$MODE" >"$FS/kernel-tests/mode"
printf '%s\n' "${RUN[@]}" >"$FS/kernel-tests/commands"

INITRD=$WORK/initrd-$MODE.gz
(cd "$FS" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$INITRD"
echo "initrd $(du -h "$INITRD" | cut -f1)"

# --- boot ----------------------------------------------------------------------------------------
log "boot ($MODE, timeout ${TIMEOUT}s)"
CONSOLE=$WORK/console-$MODE.log
start=$(date +%s)
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg -cpu max -smp 2 -m "$MEM" \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial stdio \
  -kernel "$VMLINUZ" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=4 panic=-1" \
  </dev/null 2>&1 | sed -u 's/\r$//' | tee "$CONSOLE"
qemu_status=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - start))

result=$(grep -a "^$SENTINEL exit=" "$CONSOLE" | tail -n 1 | sed 's/.*exit=//' || true)
log "result"
echo "qemu exit status $qemu_status after ${elapsed}s (console: ${CONSOLE#"$ROOT"/})"
if [ -z "$result" ]; then
  [ "$qemu_status" = 124 ] && echo "kernel-tests: the guest did not finish within ${TIMEOUT}s" >&2
  die "no sentinel line on the console: the guest did not finish"
fi
if [ "$result" != 0 ]; then
  die "the guest reported exit status $result"
fi
echo "kernel-tests: $MODE passed in the guest"
