#!/usr/bin/env bash
# Builds the Linux guest of vmwdt-vmm: a small x86-64 kernel from Debian's
# linux-source-6.12 with the config fragment host-shim/vmm/guest/guest.config,
# and a busybox initramfs whose init is host-shim/vmm/guest/init.
#
# Both are cached outside the clone, in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/vmwdt/linux-<source version>-<hash>/
# where the hash covers the fragment, the init, this script, the busybox
# package and the compiler, so a second run builds nothing and a changed input
# rebuilds. A build runs in a temporary directory of the cache and is renamed
# into place only when it succeeded, so an interrupted build leaves no cache.
#
# Progress goes to stderr; stdout holds exactly two lines at the end:
#   KERNEL=<path of bzImage>      (System.map lies beside it, and vmlinux, the
#                                  uncompressed ELF kernel, which vmwdt-vmm boots
#                                  without running the decompressor)
#   INITRD=<path of initramfs.cpio.gz>
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest_dir="$here/../host-shim/vmm/guest"
fragment="$guest_dir/guest.config"
init_script="$guest_dir/init"
src_pkg=linux-source-6.12
src_tar=/usr/src/linux-source-6.12.tar.xz
busybox_bin=/bin/busybox

log() {
	echo "linux-guest: $*" >&2
}
die() {
	log "error: $*"
	exit 1
}

for f in "$fragment" "$init_script"; do
	[ -r "$f" ] || die "missing $f"
done

# Installs the Debian packages the build needs, when any is missing. apt-get
# runs only as root; without root a missing package ends the build with its
# name, since nothing can be built without it.
need=(make gcc libc6-dev bc flex bison libelf-dev libssl-dev cpio gzip xz-utils busybox-static "$src_pkg")
missing=()
for pkg in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages (install them as root): ${missing[*]}"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null >&2
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" </dev/null >&2
fi
[ -r "$src_tar" ] || die "$src_tar not found (package $src_pkg)"
[ -x "$busybox_bin" ] || die "$busybox_bin not found (package busybox-static)"

src_version=$(dpkg-query -W -f='${Version}' "$src_pkg")
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
key=$({
	cat "$fragment" "$init_script" "${BASH_SOURCE[0]}"
	echo "busybox-static $busybox_version"
	gcc --version | head -n 1
} | sha256sum | cut -c1-16)

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/vmwdt"
final="$cache_root/linux-$src_version-$key"
kernel="$final/bzImage"
initrd="$final/initramfs.cpio.gz"

report() {
	echo "KERNEL=$kernel"
	echo "INITRD=$initrd"
}

if [ -f "$kernel" ] && [ -f "$final/vmlinux" ] && [ -f "$initrd" ]; then
	log "cached: linux $src_version, guest $key"
	report
	exit 0
fi

# One build at a time per cache: a second run waits for the first and then
# uses its result.
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
	log "another build is running; waiting for it"
	flock 9
fi
if [ -f "$kernel" ] && [ -f "$final/vmlinux" ] && [ -f "$initrd" ]; then
	log "cached: linux $src_version, guest $key"
	report
	exit 0
fi
# Holding the lock, no build runs: a temporary directory left here was
# abandoned by a killed build.
rm -rf "$cache_root"/.build.*

work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
elapsed() {
	local s=$((SECONDS - start))
	printf '%d:%02d' $((s / 60)) $((s % 60))
}

log "building linux $src_version (guest $key) in $(nproc) jobs; the first build takes minutes"
log "[$(elapsed)] extracting $src_tar"
tar -xJf "$src_tar" -C "$work"
src="$work/linux-source-6.12"
[ -d "$src" ] || die "the source archive did not hold linux-source-6.12/"

kmake() {
	make -C "$src" ARCH=x86_64 KBUILD_BUILD_USER=vmwdt KBUILD_BUILD_HOST=vmwdt "$@"
}

log "[$(elapsed)] configuring: tinyconfig + $(basename "$fragment")"
kmake tinyconfig >"$work/config.log" 2>&1 || { tail -n 30 "$work/config.log" >&2; die "tinyconfig failed"; }
"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$fragment" >>"$work/config.log" 2>&1 ||
	{ tail -n 30 "$work/config.log" >&2; die "merging the fragment failed"; }
kmake olddefconfig >>"$work/config.log" 2>&1 || { tail -n 30 "$work/config.log" >&2; die "olddefconfig failed"; }

# Every option the fragment sets must be in the final configuration: a
# dependency that is not met drops an option silently.
check_config() {
	local bad=0 line name want got
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			name=${line%%=*}
			want=$line
			;;
		"# CONFIG_"*" is not set")
			name=${line#\# }
			name=${name%% *}
			want="# $name is not set"
			;;
		*) continue ;;
		esac
		got=$(grep -E "^(# )?${name}[= ]" "$src/.config" || true)
		if [ "$want" = "# $name is not set" ]; then
			# An option asked off may also be absent (its menu is off).
			case "$got" in "" | "$want") continue ;; esac
		elif [ "$got" = "$want" ]; then
			continue
		fi
		log "config: asked for '$want', got '${got:-nothing}'"
		bad=1
	done <"$fragment"
	return $bad
}
check_config || die "options of $(basename "$fragment") did not survive; satisfy their dependencies"
log "[$(elapsed)] configuration checked: every option of the fragment is set"

# The kernel's own output goes to a log; a line per 100 objects shows the
# build is alive, and a failure shows the end of the log.
log "[$(elapsed)] compiling"
set +e
kmake -j"$(nproc)" bzImage 2>&1 | {
	n=0
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$work/build.log"
		case "$line" in
		"  CC "* | "  AS "* | "  LD "* | "  AR "* | "  HOSTCC "*)
			n=$((n + 1))
			if [ $((n % 100)) -eq 0 ]; then
				log "[$(elapsed)] $n objects, now${line#* }"
			fi
			;;
		esac
	done
}
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
	tail -n 40 "$work/build.log" >&2
	die "the kernel build failed"
fi
log "[$(elapsed)] kernel built"

# The initramfs: busybox with a link per applet, the init, and /dev/console,
# which the kernel opens for init before anything is mounted. The kernel's own
# gen_init_cpio writes the archive, so no device node is made on the host.
log "[$(elapsed)] building the initramfs"
gcc -O2 -o "$work/gen_init_cpio" "$src/usr/gen_init_cpio.c"
list="$work/initramfs.list"
{
	for d in /bin /dev /proc /sys /tmp /root; do
		echo "dir $d 0755 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "file /bin/busybox $busybox_bin 0755 0 0"
	echo "file /init $init_script 0755 0 0"
	"$busybox_bin" --list | while IFS= read -r applet; do
		[ "$applet" = busybox ] || echo "slink /bin/$applet busybox 0777 0 0"
	done
} >"$list"
out="$work/out"
mkdir "$out"
"$work/gen_init_cpio" -t 0 "$list" | gzip -9 -n >"$out/initramfs.cpio.gz"

cp "$src/arch/x86/boot/bzImage" "$src/vmlinux" "$src/System.map" "$src/.config" "$out/"
mv "$out/.config" "$out/config"
cp "$work/build.log" "$work/config.log" "$out/"
rm -rf "$final"
mv "$out" "$final"
log "[$(elapsed)] done: bzImage $(stat -c %s "$kernel") bytes, initramfs $(stat -c %s "$initrd") bytes"
report
