/*
 * The Linux guest. Memory is one slot of VMM_LINUX_RAM_SIZE at 0; the watchdog sits outside
 * it. The kernel's interrupt controllers and PIT are KVM's in-kernel ones, so a halted vCPU
 * waits inside KVM_RUN and the other vCPUs start through the guest's INIT and SIPI. The boot
 * vCPU enters the kernel's 64-bit entry point with paging on: an identity map of the low
 * 4 GiB in 2 MiB pages and a flat GDT, both built here (boot protocol, "64-bit boot").
 *
 * The stall interrupt is an NMI (KVM_NMI): x86 Linux has no per-CPU peripheral interrupt for
 * this device, and unknown_nmi_panic makes the guest panic with the stuck CPU's backtrace,
 * as QEMU's inject-nmi watchdog action does. Before the NMI the vCPU's own thread reads its
 * RIP and prints it, with the symbol when a System.map is known.
 */
#define _GNU_SOURCE
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_bzimage.h"
#include "vmm_fdt.h"
#include "vmm_kvm.h"
#include "vmm_linux.h"
#include "vmm_output.h"
#include "vmm_serial.h"
#include "vmm_symbols.h"
#include "vmm_vcpu.h"

#define GDT_ADDR  0x500
#define PML4_ADDR 0x9000
#define PDPT_ADDR 0xa000
#define PD_ADDR   0xb000 /* four page directories: 0xb000 .. 0xefff */
#define BOOT_STACK 0x8ff0
#define SEL_CODE  0x10   /* __BOOT_CS */
#define SEL_DATA  0x18   /* __BOOT_DS */

/*
 * unknown_nmi_panic: the stall NMI makes the guest panic. panic_print=0x40: the panic prints
 * every CPU's backtrace as well, so even a kernel without CONFIG_DEBUG_BUGVERBOSE (whose
 * panic() prints no backtrace of its own) shows the stuck CPU's. panic=0: the guest
 * stays stopped, so the watchdog's second window resets it. nokaslr: the System.map addresses
 * hold. Some KVM implementations (PVM with a guest kernel not built for it) run the guest
 * kernel through KVM's instruction emulator and take the guest's CPUID from the host, whatever
 * KVM_SET_CPUID2 said: clearcpuid= makes the kernel pick code without the instructions that
 * emulator lacks (POPCNT in hweight, RDTSCP in rdtsc_ordered, XRSTOR, FSGSBASE in the context
 * switch, INVPCID, STAC/CLAC, RDPID, RDRAND, RDSEED); noxsave as well, so the FPU state is
 * saved with FXSAVE.
 */
#define DEFAULT_CMDLINE "console=ttyS0 noapic unknown_nmi_panic panic_print=0x40 " \
                        "nmi_watchdog=0 nokaslr tsc=reliable no_timer_check panic=0 noxsave " \
                        "clearcpuid=popcnt,rdtscp,fsgsbase,invpcid,pcid,smap,rdpid,rdrand," \
                        "rdseed,xsave,xsaveopt,xsavec,xsaves"

struct linux_guest {
    struct vmm *vm;
    struct vmm_serial *serial;
    struct vmm_symbols *symbols;
    char *cmdline;
};

static struct linux_guest *guest_of(const struct vmm *vm)
{
    return vm->guest_data;
}

/*
 * Prints a console line. The init's first ready line starts the scenario: from then on the
 * times of --seconds, --hang, --offline and --pause count (the init counts its own from there
 * too), whatever the boot took.
 */
static void console_line(void *opaque, const char *text)
{
    struct vmm *vm = opaque;
    vmm_print(stdout, "guest", "%s", text);
    if (strncmp(text, VMM_LINUX_READY, strlen(VMM_LINUX_READY)) != 0)
        return;
    pthread_mutex_lock(&vm->lock);
    if (vm->origin_ns < 0) {
        vm->origin_ns = vmm_elapsed_ns();
        vmm_note("guest ready after %.3f s: the scenario's times count from here",
                 (double)vm->origin_ns / VMM_NS_PER_S);
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}

static void console_irq(void *opaque, bool level)
{
    vmm_kvm_irq_line(opaque, VMM_SERIAL_IRQ, level);
}

/* COM1 is the console; every other port is absent (reads see all ones), but the CMOS RTC
 * reads as zeros, so that a kernel waiting for its update-in-progress bit does not wait. */
static void lx_pio(struct vmm_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                   uint32_t size, uint32_t count)
{
    struct linux_guest *g = guest_of(v->vm);
    if (port >= VMM_SERIAL_BASE && port < VMM_SERIAL_BASE + VMM_SERIAL_SIZE) {
        for (uint32_t i = 0; i < count; i++)
            for (uint32_t b = 0; b < size; b++)
                vmm_serial_access(g->serial, port - VMM_SERIAL_BASE + b, is_write,
                                  data + (size_t)i * size + b);
        return;
    }
    if (!is_write)
        memset(data, port == 0x70 || port == 0x71 ? 0 : 0xff, (size_t)size * count);
}

/* Reads the vCPU's RIP on its own thread and prints it, named when a System.map is known. */
static void report_rip(struct vmm_vcpu *v)
{
    struct kvm_regs regs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0) {
        vmm_event(v->index, "stalled at an unknown RIP (KVM_GET_REGS failed)");
        return;
    }
    uint64_t off;
    const char *sym = vmm_symbols_find(guest_of(v->vm)->symbols, regs.rip, &off);
    if (sym)
        vmm_event(v->index, "stalled at RIP 0x%llx (%s+0x%llx)", (unsigned long long)regs.rip,
                  sym, (unsigned long long)off);
    else
        vmm_event(v->index, "stalled at RIP 0x%llx", (unsigned long long)regs.rip);
}

static int lx_before_run(struct vmm_vcpu *v)
{
    struct vmm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    bool pending = v->irq_pending;
    v->irq_pending = false;
    pthread_mutex_unlock(&vm->lock);
    if (!pending)
        return 0;
    report_rip(v);
    if (ioctl(v->fd, KVM_NMI, 0) < 0) {
        vmm_vcpu_fail(v, "KVM_NMI failed");
        return -1;
    }
    return 0;
}

static const struct vmm_guest_ops linux_ops = {
    .pio = lx_pio,
    .before_run = lx_before_run,
};

/* --system-map, else a System.map beside the kernel, else none (no error: RIPs stay bare). */
static int load_symbols(struct vmm *vm, struct linux_guest *g, char *err, size_t errlen)
{
    const char *path = vm->opt.system_map;
    char beside[4096];
    if (!path) {
        const char *slash = strrchr(vm->opt.kernel, '/');
        int dir = slash ? (int)(slash - vm->opt.kernel) + 1 : 0;
        snprintf(beside, sizeof(beside), "%.*sSystem.map", dir, vm->opt.kernel);
        if (access(beside, R_OK) != 0)
            return 0;
        path = beside;
    }
    g->symbols = vmm_symbols_load(path, err, errlen);
    return g->symbols ? 0 : -1;
}

int vmm_linux_create(struct vmm *vm, char *err, size_t errlen)
{
    struct linux_guest *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    g->vm = vm;
    vm->guest = &linux_ops;
    vm->guest_data = g;
    vm->wdt_base = VMM_LINUX_WDT_BASE;
    vm->wdt_size = VMM_LINUX_WDT_SIZE;
    struct vmm_serial_ops console = {.opaque = vm, .line = console_line, .irq = console_irq};
    g->serial = vmm_serial_new(&console);
    if (!g->serial) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (load_symbols(vm, g, err, errlen) < 0 || vmm_kvm_create_irqchip(vm, err, errlen) < 0 ||
        vmm_kvm_alloc_ram(vm, VMM_LINUX_RAM_SIZE, err, errlen) < 0 ||
        vmm_kvm_map_ram(vm, 0, 0, VMM_LINUX_RAM_SIZE, err, errlen) < 0)
        return -1;
    return 0;
}

/* Seconds as the guest's init reads them: decimal, without trailing zeros. */
static void format_seconds(char *buf, size_t size, int64_t ns)
{
    int64_t ms = (ns + 500000) / 1000000;
    snprintf(buf, size, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
    char *end = buf + strlen(buf) - 1;
    while (*end == '0')
        *end-- = '\0';
    if (*end == '.')
        *end = '\0';
}

/* The default words, one word per --hang and --offline for the guest's init, then --append. */
static char *build_cmdline(const struct vmm_options *o)
{
    size_t size = sizeof(DEFAULT_CMDLINE) + (size_t)o->action_count * 48 +
                  (o->append ? strlen(o->append) + 2 : 0);
    char *s = malloc(size);
    if (!s)
        return NULL;
    size_t n = (size_t)snprintf(s, size, "%s", DEFAULT_CMDLINE);
    for (unsigned i = 0; i < o->action_count; i++) {
        const struct vmm_action *a = &o->actions[i];
        if (a->kind != VMM_ACT_HANG && a->kind != VMM_ACT_OFFLINE)
            continue;
        char at[32];
        format_seconds(at, sizeof(at), a->at_ns);
        n += (size_t)snprintf(s + n, size - n, " vmwdt_%s=%u@%s",
                              a->kind == VMM_ACT_HANG ? "hang" : "offline", a->cpu, at);
    }
    if (o->append)
        snprintf(s + n, size - n, " %s", o->append);
    return s;
}

/* An identity map of the low 4 GiB in 2 MiB pages, and a GDT with flat 64-bit segments. */
static void build_page_tables(uint8_t *ram)
{
    uint64_t *pml4 = (uint64_t *)(ram + PML4_ADDR);
    uint64_t *pdpt = (uint64_t *)(ram + PDPT_ADDR);
    uint64_t *pd = (uint64_t *)(ram + PD_ADDR);
    memset(pml4, 0, 0x1000);
    memset(pdpt, 0, 0x1000);
    pml4[0] = PDPT_ADDR | 0x3; /* present, writable */
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (PD_ADDR + i * 0x1000) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
    uint64_t gdt[4] = {0, 0, 0x00af9b000000ffffULL, 0x00cf93000000ffffULL};
    memcpy(ram + GDT_ADDR, gdt, sizeof(gdt));
}

static struct kvm_segment flat_segment(uint16_t selector, bool code)
{
    return (struct kvm_segment){
        .base = 0, .limit = 0xffffffff, .selector = selector, .type = code ? 0xb : 0x3,
        .present = 1, .dpl = 0, .db = code ? 0 : 1, .s = 1, .l = code ? 1 : 0, .g = 1,
    };
}

/*
 * Guest RAM write-back: at reset the MTRRs are off, which makes all memory uncached where KVM
 * honours the guest's memory types, and the kernel's decompressor then runs for minutes.
 */
static int setup_mtrr(struct vmm_vcpu *v)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry entry;
    } msrs = {.hdr.nmsrs = 1, .entry = {.index = 0x2ff, .data = (1u << 11) | 6}};
    return ioctl(v->fd, KVM_SET_MSRS, &msrs) == 1 ? 0 : -1;
}

/* The boot vCPU in long mode at the 64-bit entry, RSI = the zero page. */
static int setup_boot_cpu(struct vmm_vcpu *v, uint64_t entry)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    sregs.cs = flat_segment(SEL_CODE, true);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(SEL_DATA, false);
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = 4 * 8 - 1;
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = 0x20;             /* PAE */
    sregs.cr0 = 0x80000031;       /* PG, NE, ET, PE */
    sregs.efer = 0x500;           /* LMA, LME */
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return -1;
    struct kvm_regs regs = {.rip = entry, .rsi = VMM_BOOT_PARAMS, .rsp = BOOT_STACK,
                            .rflags = 0x2};
    return ioctl(v->fd, KVM_SET_REGS, &regs);
}

int vmm_linux_boot(struct vmm *vm, char *err, size_t errlen)
{
    struct linux_guest *g = guest_of(vm);
    static uint8_t dtb[0x4000];
    struct vmm_fdt_params fp = {.cpus = vm->opt.cpus, .wdt_base = vm->wdt_base,
                                .wdt_size = vm->wdt_size, .freq = vm->opt.freq,
                                .timeout = vm->opt.timeout};
    int dtb_size = vmm_fdt_build(&fp, dtb, sizeof(dtb), err, errlen);
    if (dtb_size < 0)
        return -1;
    g->cmdline = build_cmdline(&vm->opt);
    if (!g->cmdline) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct vmm_boot_image img = {.kernel = vm->opt.kernel, .initrd = vm->opt.initrd,
                                 .cmdline = g->cmdline, .dtb = dtb,
                                 .dtb_size = (size_t)dtb_size};
    uint64_t entry;
    if (vmm_bzimage_load(vm->ram, vm->ram_size, &img, &entry, err, errlen) < 0)
        return -1;
    build_page_tables(vm->ram);
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (setup_mtrr(&vm->vcpus[i]) < 0) {
            snprintf(err, errlen, "cannot set the MTRRs of vCPU %u: %m", i);
            return -1;
        }
    }
    if (setup_boot_cpu(&vm->vcpus[0], entry) < 0) {
        snprintf(err, errlen, "cannot set up the boot vCPU: %m");
        return -1;
    }
    return 0;
}

const char *vmm_linux_cmdline(const struct vmm *vm)
{
    struct linux_guest *g = guest_of(vm);
    return g && g->cmdline ? g->cmdline : "";
}

void vmm_linux_close(struct vmm *vm)
{
    struct linux_guest *g = guest_of(vm);
    if (!g)
        return;
    vmm_serial_free(g->serial);
    vmm_symbols_free(g->symbols);
    free(g->cmdline);
    free(g);
    vm->guest_data = NULL;
}
