# Shared by the QEMU checks (sourced): the tools, Debian's kernel, and a busybox initramfs with virtio modules.
# Each function prints what is missing on stderr and returns 3, the scripts' "skipped" status.

# qemu_require TOOL...: every tool on PATH, and busybox the static build (the initramfs has no libc).
qemu_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; return 3; }
  done
  if ldd "$(command -v busybox)" >/dev/null 2>&1; then
    echo "$(command -v busybox) is dynamically linked; install busybox-static" >&2
    return 3
  fi
}

# qemu_kernel WORK: sets kernel and modules from an unpacked linux-image in $KERNEL_CACHE (.ci/run unpacks one for
# every check), the installed kernel, or Debian's linux-image downloaded and unpacked in WORK (nothing installed).
qemu_kernel() {
  local work=$1 package
  kernel=
  [ -n "${KERNEL_CACHE:-}" ] && kernel=$(ls "$KERNEL_CACHE"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$kernel" ]; then
    modules=$KERNEL_CACHE/lib/modules/${kernel##*/vmlinuz-}
    return 0
  fi
  kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$kernel" ]; then
    modules=/lib/modules/${kernel#/boot/vmlinuz-}
    return 0
  fi
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$package" ] || { echo "no kernel in \$KERNEL_CACHE or /boot, and apt knows no linux-image-amd64" >&2; return 3; }
  (cd "$work" && apt-get download -qq "$package" >/dev/null 2>&1) || { echo "could not download $package" >&2; return 3; }
  dpkg-deb -x "$work"/"$package"_*.deb "$work/kernel"
  kernel=$(ls "$work"/kernel/boot/vmlinuz-* | head -n 1)
  modules=$work/kernel/lib/modules/${kernel##*/vmlinuz-}
}

# qemu_initrd WORK MODULE...: WORK/initrd with busybox, the usual mount points and the modules (decompressed when
# the kernel ships them compressed), for an init that qemu_init_start begins.
qemu_initrd() {
  local work=$1 m ko
  shift
  mkdir -p "$work/initrd/bin" "$work/initrd/lib/modules" "$work/initrd/proc" "$work/initrd/sys" "$work/initrd/dev" "$work/initrd/tmp"
  cp "$(command -v busybox)" "$work/initrd/bin/busybox"
  for m in "$@"; do
    ko=$(find "$modules" -name "$m.ko*" | head -n 1)
    [ -n "$ko" ] || { echo "module $m not found under $modules" >&2; return 3; }
    case $ko in
      *.xz) xz -dc "$ko" >"$work/initrd/lib/modules/$m.ko" ;;
      *.zst) zstd -qdc "$ko" >"$work/initrd/lib/modules/$m.ko" ;;
      *) cp "$ko" "$work/initrd/lib/modules/$m.ko" ;;
    esac
  done
}

# qemu_init_start MODULE...: the first lines of the guest's init: busybox's links, /proc, /sys, /dev, the modules.
qemu_init_start() {
  cat <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in $*; do insmod /lib/modules/\$m.ko || echo "guest: insmod \$m failed"; done
INIT
}

# qemu_pack WORK: WORK/initrd.gz from WORK/initrd.
qemu_pack() {
  chmod +x "$1/initrd/init"
  (cd "$1/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$1/initrd.gz"
}
