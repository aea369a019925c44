#!/usr/bin/env bash
# Boot Debian's own kernel under qemu (software emulation, no KVM needed) with the kernel's
# virtual camera driver `vivid` loaded, run one command inside, print its output, and exit
# with its status. For testing V4L2 code against a real kernel driver on machines without
# a camera.
#
#   vivid-vm.sh [--add PATH]... [--vivid "n_devs=2 ..."] [--mem MiB] [--timeout S] -- COMMAND...
#
# Copied from the workplace's shared tools/vm/vivid-vm.sh into the project (scripts/test-vm runs
# it); change: the guest's busybox also gets readlink, find, sort, stat, date.
#
# --add copies a file or directory into the guest at the same absolute path; for ELF
# files their shared libraries (ldd) are copied too. COMMAND runs as root in /, with
# /dev/video* present, under busybox sh. Needs: qemu-system-x86 busybox-static cpio kmod
# (and the network-free Debian registry for the kernel package). Cache: $VIVID_VM_CACHE
# (default ~/.cache/vivid-vm) keeps the unpacked kernel between runs.
set -euo pipefail
adds=(); vivid_opts="n_devs=2"; mem=1024; tmo=300
while [ $# -gt 0 ]; do
  case "$1" in
    --add) adds+=("$2"); shift 2 ;;
    --vivid) vivid_opts="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --timeout) tmo="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "vivid-vm: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: vivid-vm.sh [--add PATH]... -- COMMAND..." >&2; exit 2; }
for t in qemu-system-x86_64 busybox cpio depmod; do
  command -v "$t" >/dev/null || { echo "vivid-vm: missing $t (apt-get install qemu-system-x86 busybox-static cpio kmod)" >&2; exit 2; }
done

cache=${VIVID_VM_CACHE:-$HOME/.cache/vivid-vm}
mkdir -p "$cache"
if [ ! -f "$cache/kver" ]; then
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "vivid-vm: cannot download $pkg (run apt-get update)" >&2; exit 2; }
  dpkg -x "$cache"/"$pkg"_*.deb "$cache/root"
  rm -f "$cache"/"$pkg"_*.deb
  ls "$cache/root/lib/modules" > "$cache/kver"
fi
kver=$(cat "$cache/kver")

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
r="$work/initrd"
mkdir -p "$r"/{bin,proc,sys,dev,tmp,run,lib/modules}
cp /bin/busybox "$r/bin/" 2>/dev/null || cp "$(command -v busybox)" "$r/bin/"
for c in sh mount modprobe ls cat echo poweroff sleep mkdir dmesg head tail grep rm base64 wc md5sum od cp mv rmmod lsmod readlink find sort stat date; do ln -sf busybox "$r/bin/$c"; done
m="$cache/root/lib/modules/$kver"
mkdir -p "$r/lib/modules/$kver"
cp "$m"/modules.* "$r/lib/modules/$kver/" 2>/dev/null || true
# only the media subsystem and what it needs
(cd "$m" && find kernel/drivers/media kernel/drivers/usb/core kernel/drivers/input kernel/drivers/i2c kernel/drivers/hid kernel/lib -name '*.ko*' 2>/dev/null) |
  while read -r f; do mkdir -p "$r/lib/modules/$kver/$(dirname "$f")"; cp "$m/$f" "$r/lib/modules/$kver/$f"; done
depmod -b "$r" "$kver"

copy_with_libs() {
  local p="$1"
  mkdir -p "$r$(dirname "$p")"; cp -a "$p" "$r$p"
  find "$p" -type f 2>/dev/null | while read -r f; do
    if head -c4 "$f" 2>/dev/null | grep -q ELF; then
      ldd "$f" 2>/dev/null | awk '/=>/ && $3 ~ /^\//{print $3} /ld-linux/ && $1 ~ /^\//{print $1}' | while read -r l; do
        [ -e "$r$l" ] || { mkdir -p "$r$(dirname "$l")"; cp -L "$l" "$r$l"; }
      done
    fi
  done
}
for a in "${adds[@]}"; do copy_with_libs "$(readlink -f "$a")"; done

printf '%s ' "$@" > "$r/cmd"   # one shell command line
cat > "$r/init" <<INIT
#!/bin/sh
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
# No tmpfs on /tmp: files added with --add may live under /tmp on the host (a CI clone),
# and the initramfs root is in RAM and writable already.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
modprobe vivid $vivid_opts || echo "vivid-vm: modprobe vivid failed"
echo "==vivid-vm-begin=="
sh -c "\$(cat /cmd)"
echo "==vivid-vm-exit=\$?=="
poweroff -f
INIT
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.gz")

out="$work/console"
timeout "$tmo" qemu-system-x86_64 -accel tcg -cpu max -m "$mem" -smp 1 \
  -kernel "$cache/root/boot/vmlinuz-$kver" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1" -nographic -no-reboot > "$out" 2>&1 || true
sed -n '/==vivid-vm-begin==/,/==vivid-vm-exit=/p' "$out" | sed '1d;$d' | tr -d '\r'
code=$(grep -a -o '==vivid-vm-exit=[0-9]*==' "$out" | tr -dc '0-9')
if [ -z "$code" ]; then echo "vivid-vm: the guest did not finish (timeout ${tmo}s?); last console lines:" >&2; tail -20 "$out" >&2; exit 124; fi
exit "$code"
