#!/usr/bin/env bash
# An ARM board, simulated: Debian 13 (trixie) arm64 with its own kernel (linux-image-arm64) and
# initrd, systemd as PID 1 and the kernel's vivid camera driver, under qemu-system-aarch64
# (machine virt, software emulation). Boots it with a folder shared into the guest and runs the
# board checks (Tests/vm/arm64-board-checks.sh) there from a systemd unit once the system is up.
#
#   arm64-vm.sh [--cpu max|cortex-a72|...] [--timeout S] [--mem MiB] [--smp N] [--console FILE]
#               [--build-only] [-- CHECK-ARGS...]
#
# The folder shared into the guest (read-only, mounted at /mnt/board): $ARM64_VM_SHARE, which
# must hold the .deb(s) and arm64-board-checks.sh; CHECK-ARGS are passed to that script. The
# checks' output is streamed here; the exit status is theirs (124: timeout, 125: the VM failed).
# The guest's console (kernel and systemd) goes to --console FILE (default: a temporary file,
# shown when the VM fails).
#
# The image: `debootstrap --foreign --arch arm64 --variant=minbase trixie` on this (x86-64)
# host; then the second stage (dpkg configuring every package, the kernel's postinst making
# Debian's own initrd) in a chroot on this host, its aarch64 programs run by qemu-user
# (qemu-aarch64-static, unpacked from Debian's qemu-user-static, not installed) through a
# binfmt_misc of a user and mount namespace of its own (Linux 6.7 and newer), so the host's
# binfmt_misc is not touched: 439 s on a quiet 2-core host, where inside qemu-system it took
# 812 s. Where the kernel has no binfmt_misc per user namespace, the second stage runs inside
# the VM instead, booted once with Debian's kernel and a small busybox initramfs made here
# (busybox-static:arm64 from the same download). Every later boot uses that kernel and initrd
# with -kernel/-initrd. Cached in $ARM64_VM_CACHE (default
# /var/cache/effnetd-arm64-vm) under a key that hashes every input (suite, mirror, package
# list, vivid options, this file's image recipe), so it is rebuilt only when one changes; each
# run boots a copy-on-write snapshot of it (qemu snapshot=on), the cached image stays clean.
# Building needs root (debootstrap), debootstrap, debian-archive-keyring, qemu-system-arm,
# e2fsprogs, cpio, kmod, xz-utils, util-linux's unshare (scripts/setup-debian --arm64-vm) and
# Debian's archive.
set -euo pipefail

CPU=max TIMEOUT=1800 MEM=2048 SMP=2 CONSOLE="" BUILD_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) CPU=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --smp) SMP=$2; shift 2 ;;
    --console) CONSOLE=$2; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    --) shift; break ;;
    *) echo "arm64-vm: unknown option $1" >&2; exit 2 ;;
  esac
done

log() { echo "arm64-vm: $*" >&2; }
fail() { log "$*"; exit 125; }

SUITE=trixie
MIRROR=${EFFNETD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The board: systemd, udev, the kernel, v4l-utils (vivid's controls), jq (the checks read
# JSON); and the arm64 .deb's Depends (Debian 13 names, as scripts/package-deb --arch arm64
# computes them; libmosquitto1 since the daemon publishes to MQTT), so
# `apt-get install ./effnetd_*_arm64.deb` needs no network. A package that gains a Depends
# not listed here fails to install in the VM, naming it: add it here (a new image follows).
PKGS="systemd systemd-sysv udev kmod dbus libnss-systemd linux-image-arm64 initramfs-tools
      busybox-static v4l-utils jq procps
      libc6 libgcc-s1 libstdc++6 libsystemd0 libturbojpeg0 libpng16-16t64 zlib1g libv4l-0t64
      libmosquitto1"
PKGS=$(echo $PKGS)
VIVID_OPTS="n_devs=2 node_types=0x1,0x1"
CACHE=${ARM64_VM_CACHE:-/var/cache/effnetd-arm64-vm}

# --------------------------------------------------------------------------- the image ---
# Everything from here to "end of the image recipe" is hashed into the cache key.
# in_arm64_userns QEMU CMD...: CMD as root of a user namespace that maps every uid and gid to
# itself (dpkg can chown), in a mount namespace of its own (bind mounts vanish with it), with
# a binfmt_misc instance of its own that hands aarch64 ELF files to QEMU (a static qemu-user;
# the F flag opens it now, so it runs inside a chroot too).
in_arm64_userns() {
  local q=$1 d rc=0 pid
  shift
  d=$(mktemp -d)
  mkfifo "$d/go"
  # The child waits until its uid/gid maps are written (only a process outside can).
  unshare --user --mount sh -c 'read x <"$0" || exit 92
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || exit 90
    printf "%s" ":aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$1:F" \
      >/proc/sys/fs/binfmt_misc/register 2>/dev/null || exit 91
    shift; exec "$@"' "$d/go" "$q" "$@" &
  pid=$!
  local i=0
  while [ "$(readlink "/proc/$pid/ns/user" 2>/dev/null)" = "$(readlink /proc/self/ns/user)" ] && [ $i -lt 100 ]; do
    sleep 0.05; i=$((i + 1))
  done
  if echo "0 0 4294967295" >"/proc/$pid/uid_map" 2>/dev/null && echo "0 0 4294967295" >"/proc/$pid/gid_map" 2>/dev/null; then
    echo go >"$d/go"
  else
    kill "$pid" 2>/dev/null
  fi
  wait "$pid" || rc=$?
  rm -rf "$d"
  return "$rc"
}

# second_stage_on_host DIR ROOT: debootstrap's second stage of ROOT in a chroot here, under
# qemu-user; non-zero (ROOT untouched) where this kernel cannot do that.
second_stage_on_host() {
  local B=$1 R=$2 q
  command -v unshare >/dev/null || return 1
  mkdir -p "$B/qs"
  (cd "$B/qs" && apt-get download qemu-user-static >/dev/null 2>&1) || { log "no qemu-user-static from apt"; return 1; }
  dpkg-deb -x "$B"/qs/qemu-user-static_*.deb "$B/qs/x" || return 1
  q=$B/qs/x/usr/bin/qemu-aarch64-static
  [ -x "$q" ] || return 1
  if ! in_arm64_userns "$q" chroot "$R" /bin/true; then
    log "this kernel has no binfmt_misc per user namespace (Linux 6.7+): second stage in the VM"
    rm -rf "$B/qs"
    return 1
  fi
  # The second stage looks packages up in the suite's whole Packages file (56 MB), once per
  # batch, with perl: minutes each under qemu. Only the packages the first stage downloaded
  # (debootstrap/debpaths) are installed, so only their entries are kept (awk, natively).
  local L
  for L in "$R"/var/lib/apt/lists/*_Packages; do
    awk -v keep="$(cut -d' ' -f1 "$R/debootstrap/debpaths" | tr '\n' ' ')" '
      BEGIN { n = split(keep, a, " "); for (i = 1; i <= n; i++) k[a[i]] = 1; RS = ""; ORS = "\n\n" }
      { split($0, f, "\n"); if (f[1] ~ /^Package: / && (substr(f[1], 10) in k)) print }' "$L" >"$L.kept" &&
      mv "$L.kept" "$L" || return 1
  done
  # container=lxc: debootstrap then skips its mknod probe (a user namespace may not mknod) and
  # uses the /dev bound in from the host.
  log "second stage in a chroot here (aarch64 programs under qemu-user; minutes)"
  local t1=$SECONDS
  in_arm64_userns "$q" sh -c 'R=$1
    for m in dev proc sys; do mount --rbind "/$m" "$R/$m" || exit 93; done
    chroot "$R" env container=lxc /debootstrap/debootstrap --second-stage && chroot "$R" apt-get clean' sh "$R" \
    >"$B/stage2.log" 2>&1 || { tail -n 40 "$B/stage2.log" >&2; fail "the second stage failed ($B/stage2.log)"; }
  rm -rf "$B/qs"
  log "second stage done ($((SECONDS - t1)) s)"
}

build_image() { # build_image DIR: DIR/root.img, DIR/vmlinuz, DIR/initrd.img, DIR/kver
  local B=$1 t0=$SECONDS
  [ "$(id -u)" = 0 ] || fail "building the image needs root (debootstrap); run as root once"
  local t
  for t in debootstrap mke2fs debugfs cpio depmod xz qemu-system-aarch64; do
    command -v "$t" >/dev/null || fail "missing $t (scripts/setup-debian --arm64-vm)"
  done
  rm -rf "$B"
  mkdir -p "$B"
  local R=$B/root
  log "debootstrap --foreign --arch arm64 --variant=minbase $SUITE (first stage, on this host)"
  if ! debootstrap --foreign --arch=arm64 --variant=minbase --include="${PKGS// /,}" \
      --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$R" "$MIRROR" >"$B/debootstrap.log" 2>&1; then
    tail -n 20 "$B/debootstrap.log" >&2
    fail "debootstrap (first stage) failed"
  fi
  log "first stage done ($((SECONDS - t0)) s)"
  # The kernel and the arm64 busybox, from the packages debootstrap downloaded.
  local A=$R/var/cache/apt/archives kdeb bdeb
  kdeb=$(ls "$A"/linux-image-[0-9]*-arm64_*.deb 2>/dev/null | grep -v -- '-dbg_' | head -n 1)
  bdeb=$(ls "$A"/busybox-static_*.deb 2>/dev/null | head -n 1)
  [ -n "$kdeb" ] && [ -n "$bdeb" ] || fail "no linux-image or busybox-static package in $A"
  mkdir -p "$B/k" "$B/bb"
  dpkg-deb -x "$kdeb" "$B/k"
  dpkg-deb -x "$bdeb" "$B/bb"
  # Debian 13 is merged-/usr: the modules are in usr/lib/modules. The package has no
  # modules.dep (its postinst runs depmod).
  local KV KB=$B/k/usr
  [ -d "$KB/lib/modules" ] || KB=$B/k
  KV=$(ls "$KB/lib/modules" | head -n 1)
  [ -n "$KV" ] || fail "no modules in $kdeb"
  depmod -b "$KB" "$KV"
  echo "$KV" >"$B/kver"
  kernel_image "$B/k/boot/vmlinuz-$KV" "$B/vmlinuz"

  # Configuration of the board, written before the second stage (no package owns these).
  echo board >"$R/etc/hostname"
  printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$R/etc/fstab"
  mkdir -p "$R/etc/modprobe.d" "$R/etc/modules-load.d" "$R/etc/systemd/system" "$R/mnt/board"
  echo "options vivid $VIVID_OPTS" >"$R/etc/modprobe.d/vivid.conf"
  printf 'vivid\n9pnet_virtio\n9p\n' >"$R/etc/modules-load.d/board.conf"
  # The checks: a mount unit for the shared folder and a unit that runs them once the system is
  # up, then powers the board off.
  cat >"$R/etc/systemd/system/mnt-board.mount" <<'EOF'
[Unit]
Description=the folder shared by the host
[Mount]
What=board
Where=/mnt/board
Type=9p
Options=trans=virtio,version=9p2000.L,msize=1048576
EOF
  cat >"$R/etc/systemd/system/board-checks.service" <<'EOF'
[Unit]
Description=board checks from the host
Requires=mnt-board.mount
After=multi-user.target mnt-board.mount
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
TimeoutStartSec=infinity
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
ExecStart=/bin/sh -c 'rm -rf /run/board && mkdir -p /run/board && cp -a /mnt/board/. /run/board/ && cd /run/board && exec sh ./run'
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/hvc0
EOF
  cat >"$R/etc/systemd/system/board.target" <<'EOF'
[Unit]
Description=the board, booted for the checks
Requires=multi-user.target board-checks.service
After=multi-user.target
AllowIsolate=yes
EOF
  # A lean boot: no gettys, timers, time sync or network waits.
  local u
  for u in getty@tty1.service serial-getty@ttyAMA0.service serial-getty@hvc0.service getty.target \
           apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
           systemd-timesyncd.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
  done

  if second_stage_on_host "$B" "$R"; then
    cp "$R/boot/initrd.img-$KV" "$B/initrd.img" 2>/dev/null || fail "no /boot/initrd.img-$KV in the root"
    log "ext4 image"
    truncate -s 4G "$B/root.img"
    mke2fs -q -t ext4 -L board -d "$R" "$B/root.img" || fail "mke2fs failed"
    rm -rf "$R" "$B/bb" "$B/k"
    log "image built in $((SECONDS - t0)) s: $(du -sh --apparent-size "$B/root.img" | cut -f1) ext4 ($(du -sh "$B/root.img" | cut -f1) used), kernel $KV"
    return 0
  fi

  # The initramfs of the first boot: busybox, the modules to mount the disk, then the second
  # stage in a chroot on it.
  local I=$B/initrd1 M=$KB/lib/modules/$KV
  mkdir -p "$I"/{bin,dev,proc,sys,newroot,lib/modules/"$KV"}
  cp "$(ls "$B"/bb/usr/bin/busybox "$B"/bb/bin/busybox 2>/dev/null | head -n 1)" "$I/bin/busybox"
  for t in sh mount umount modprobe insmod sleep cat echo poweroff sync mkdir ls chroot date tail; do ln -s busybox "$I/bin/$t"; done
  local mods="virtio_mmio virtio_pci virtio_blk crc32c_generic crc32c ext4"
  local files f
  files=$(for m in $mods; do grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$M/modules.dep" | tr -d ':'; done | tr ' ' '\n' | sort -u)
  for f in $files; do
    mkdir -p "$I/lib/modules/$KV/$(dirname "$f")"
    case "$f" in
      *.xz) xz -dc "$M/$f" >"$I/lib/modules/$KV/${f%.xz}" ;;
      *.zst) zstd -dc "$M/$f" >"$I/lib/modules/$KV/${f%.zst}" ;;
      *) cp "$M/$f" "$I/lib/modules/$KV/$f" ;;
    esac
  done
  cp "$M"/modules.builtin* "$M"/modules.order "$I/lib/modules/$KV/"
  depmod -b "$I" "$KV"
  cat >"$I/init" <<EOF
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
for m in $mods; do modprobe \$m 2>/dev/null; done
i=0; while [ ! -b /dev/vda ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i+1)); done
mount -t ext4 /dev/vda /newroot || { echo "stage2: cannot mount /dev/vda"; poweroff -f; }
mount -t proc proc /newroot/proc; mount -t sysfs sysfs /newroot/sys; mount --bind /dev /newroot/dev
echo "stage2: second stage begins \$(date)"
if chroot /newroot /debootstrap/debootstrap --second-stage; then
  chroot /newroot apt-get clean
  echo ok > /newroot/.stage2-ok
  echo "stage2: done \$(date)"
else
  echo "stage2: FAILED"; cat /newroot/debootstrap/debootstrap.log 2>/dev/null | tail -n 40
fi
umount /newroot/dev /newroot/sys /newroot/proc; sync; umount /newroot; sync
poweroff -f
EOF
  chmod +x "$I/init"
  (cd "$I" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$B/initrd1.img"

  log "ext4 image of the first stage"
  truncate -s 4G "$B/root.img"
  mke2fs -q -t ext4 -L board -d "$R" "$B/root.img" || fail "mke2fs failed"
  rm -rf "$R" "$I" "$B/bb"

  log "second stage inside the VM (qemu-system-aarch64, software emulation; many minutes)"
  local t1=$SECONDS
  timeout 5400 qemu-system-aarch64 -M virt -accel tcg,thread=multi -cpu max,pauth-impdef=on -smp "$SMP" -m "$MEM" \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$B/vmlinuz" -initrd "$B/initrd1.img" -append "console=ttyAMA0 panic=-1 loglevel=4" \
    -drive file="$B/root.img",if=none,id=hd,format=raw -device virtio-blk-pci,drive=hd \
    -device virtio-rng-pci -serial file:"$B/stage2.log" </dev/null || true
  grep -q 'stage2: done' "$B/stage2.log" || { tail -n 60 "$B/stage2.log" >&2; fail "the second stage failed (log above; $B/stage2.log)"; }
  log "second stage done ($((SECONDS - t1)) s)"
  # Debian's own initrd, made by the kernel's postinst inside the VM.
  debugfs -R "dump /boot/initrd.img-$KV $B/initrd.img" "$B/root.img" 2>/dev/null
  [ -s "$B/initrd.img" ] || fail "no /boot/initrd.img-$KV in the image"
  debugfs -R "stat /.stage2-ok" "$B/root.img" 2>/dev/null | grep -q 'Size:' || fail "no /.stage2-ok in the image"
  e2fsck -fy "$B/root.img" >/dev/null 2>&1 || true
  rm -rf "$B/k" "$B/initrd1.img"
  log "image built in $((SECONDS - t0)) s: $(du -sh --apparent-size "$B/root.img" | cut -f1) ext4 ($(du -sh "$B/root.img" | cut -f1) used), kernel $KV"
}

kernel_image() { # kernel_image VMLINUZ OUT: a kernel qemu's -kernel boots
  # Debian's arm64 vmlinuz is a gzip-compressed Image or an EFI zboot image (an EFI stub
  # around a compressed Image); qemu 7.2 boots the former itself, the latter it cannot.
  local in=$1 out=$2
  if [ "$(head -c 2 "$in" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
    gzip -dc "$in" >"$out"
  elif [ "$(dd if="$in" bs=1 skip=4 count=4 2>/dev/null)" = zimg ]; then
    local off size comp
    off=$(od -An -tu4 -j 8 -N 4 "$in" | tr -d ' ')
    size=$(od -An -tu4 -j 12 -N 4 "$in" | tr -d ' ')
    comp=$(dd if="$in" bs=1 skip=24 count=32 2>/dev/null | tr -d '\0')
    case "$comp" in
      gzip) tail -c +$((off + 1)) "$in" | head -c "$size" | gzip -dc >"$out" ;;
      zstd*) tail -c +$((off + 1)) "$in" | head -c "$size" | zstd -dc >"$out" ;;
      xz) tail -c +$((off + 1)) "$in" | head -c "$size" | xz -dc >"$out" ;;
      *) fail "EFI zboot kernel compressed with '$comp': not known here" ;;
    esac
  else
    cp "$in" "$out"
  fi
  [ "$(dd if="$out" bs=1 skip=56 count=4 2>/dev/null)" = $'ARM\x64' ] || fail "$out is not an arm64 Image"
}
# end of the image recipe

KEY=$( { echo "$SUITE $MIRROR $PKGS $VIVID_OPTS"; declare -f build_image kernel_image in_arm64_userns second_stage_on_host; } | sha256sum | cut -c1-12)
C=$CACHE/$SUITE-$KEY
mkdir -p "$CACHE" 2>/dev/null || fail "cannot create $CACHE (run as root once to build the image)"
if [ ! -f "$C/root.img" ]; then
  exec 9>"$CACHE/.lock" || fail "cannot lock $CACHE (run as root once to build the image)"
  flock 9
  if [ ! -f "$C/root.img" ]; then
    log "building the image $C (once; rebuilt when its inputs change)"
    build_image "$C.build"
    # Older images are of other inputs: keep only this one.
    for old in "$CACHE/$SUITE"-*; do [ "$old" = "$C.build" ] || rm -rf "$old"; done
    mv "$C.build" "$C"
  fi
  flock -u 9
fi
[ "$BUILD_ONLY" = 1 ] && { log "image: $C"; exit 0; }

SHARE=${ARM64_VM_SHARE:-}
[ -n "$SHARE" ] && [ -d "$SHARE" ] || fail "set ARM64_VM_SHARE to the folder to share with the guest"
[ -f "$SHARE/arm64-board-checks.sh" ] || fail "$SHARE has no arm64-board-checks.sh"
# The guest's entry point: the checks with the arguments given here.
{
  printf '#!/bin/sh\nbash ./arm64-board-checks.sh'
  for a in "$@"; do printf " '%s'" "${a//\'/\'\\\'\'}"; done
  printf '\necho "==board-exit=$?=="\n'
} >"$SHARE/run"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/arm64-vm.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
[ -n "$CONSOLE" ] || CONSOLE=$RUN/console.log
: >"$CONSOLE"
out=$RUN/checks.log
: >"$out"
KV=$(cat "$C/kver")
t0=$(date +%s)
# The checks' output (the guest's /dev/hvc0) is streamed from $out while qemu runs.
tail -n +1 -f "$out" --pid=$$ 2>/dev/null | sed -u 's/\r$//; /^==board-exit=/d' &
tailpid=$!
set +e
timeout --foreground -k 10 "$TIMEOUT" qemu-system-aarch64 -M virt -accel tcg,thread=multi \
  -cpu "$CPU$([ "$CPU" = max ] && echo ,pauth-impdef=on)" -smp "$SMP" -m "$MEM" \
  -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$C/vmlinuz" -initrd "$C/initrd.img" \
  -append "root=/dev/vda rw console=ttyAMA0 panic=-1 loglevel=4 systemd.unit=board.target systemd.show_status=error" \
  -drive file="$C/root.img",if=none,id=hd,format=raw,snapshot=on -device virtio-blk-pci,drive=hd \
  -device virtio-rng-pci \
  -virtfs local,path="$(cd "$SHARE" && pwd)",mount_tag=board,security_model=none,readonly=on \
  -device virtio-serial-pci -chardev file,id=checks,path="$out" -device virtconsole,chardev=checks \
  -serial file:"$CONSOLE" </dev/null
qrc=$?
set -e
sleep 1
kill "$tailpid" 2>/dev/null || true
wait "$tailpid" 2>/dev/null || true
log "cpu $CPU, kernel $KV, wall $(($(date +%s) - t0)) s"
code=$(tr -d '\r' <"$out" | sed -n 's/^==board-exit=\([0-9]*\)==$/\1/p' | tail -n 1)
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  log "timeout after $TIMEOUT s; last console lines:"; tail -n 30 "$CONSOLE" >&2; exit 124
fi
if [ -z "$code" ]; then
  log "the VM ended without a result (qemu exit status $qrc); last console lines:"; tail -n 40 "$CONSOLE" >&2; exit 125
fi
exit "$code"
