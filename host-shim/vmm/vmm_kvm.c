/*
 * The VM: guest RAM with a hole for the devices, one KVM vCPU per guest CPU and one host
 * thread per vCPU. The vCPU threads forward watchdog MMIO to the plugin, deliver the stall
 * interrupt with KVM_INTERRUPT, and idle on a condition variable while the guest halts or the
 * host pauses them.
 *
 * There is no in-kernel irqchip, so the host injects interrupts itself: when the guest cannot
 * take one yet it asks KVM for an interrupt window, and a vCPU spinning in guest code is made
 * to leave KVM_RUN with SIGUSR1, whose handler sets kvm_run.immediate_exit so that a signal
 * that lands just before KVM_RUN is not lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"
#include "vmm_layout.h"

#define VMM_KICK_SIGNAL SIGUSR1
#define VMM_TSS_ADDR 0xfffbd000UL /* three pages below 4 GiB, as Intel real mode needs */

extern const uint8_t vmm_guest_code[];
extern const uint8_t vmm_guest_code_end[];

/* The kvm_run of the vCPU that the current thread runs, for the kick signal's handler. */
static __thread struct kvm_run *tls_run;

static void kick_handler(int sig)
{
    (void)sig;
    if (tls_run)
        tls_run->immediate_exit = 1;
}

static int install_kick_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    return sigaction(VMM_KICK_SIGNAL, &sa, NULL);
}

/*
 * Opens the KVM device and checks what this VMM needs; 0, or VMM_EXIT_USAGE with a message.
 * $VMWDT_KVM_DEVICE names another device node, so that the error path can be tested.
 */
static int open_kvm(int *kvm_fd, char *err, size_t errlen)
{
    const char *path = getenv("VMWDT_KVM_DEVICE");
    if (!path || !*path)
        path = "/dev/kvm";
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s read-write: %s (KVM is not usable here)", path,
                 strerror(errno));
        return VMM_EXIT_USAGE;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(err, errlen, "%s is not a KVM device speaking API %d (KVM is not usable here)",
                 path, KVM_API_VERSION);
        close(fd);
        return VMM_EXIT_USAGE;
    }
    static const struct { int cap; const char *name; } caps[] = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
        {KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ"},
    };
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        if (ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
            snprintf(err, errlen, "KVM lacks %s", caps[i].name);
            close(fd);
            return VMM_EXIT_USAGE;
        }
    }
    *kvm_fd = fd;
    return 0;
}

static int create_vm(int kvm_fd, char *err, size_t errlen)
{
    int fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (fd < 0)
        snprintf(err, errlen, "KVM_CREATE_VM failed: %s (KVM is not usable here)",
                 strerror(errno));
    return fd;
}

static int set_memory(struct vmm *vm, uint32_t slot, uint64_t gpa, uint64_t size)
{
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)(vm->ram + gpa),
    };
    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

/* Guest RAM: [0, WDT_BASE) and [AUX_BASE + AUX_SIZE, RAM_SIZE); the devices sit in the hole. */
static int setup_memory(struct vmm *vm, char *err, size_t errlen)
{
    vm->ram = mmap(NULL, VMM_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (vm->ram == MAP_FAILED) {
        vm->ram = NULL;
        snprintf(err, errlen, "cannot map guest RAM: %s", strerror(errno));
        return -1;
    }
    uint64_t high = VMM_AUX_BASE + VMM_AUX_SIZE;
    if (set_memory(vm, 0, 0, VMM_WDT_BASE) < 0 ||
        set_memory(vm, 1, high, VMM_RAM_SIZE - high) < 0) {
        snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));
        return -1;
    }
    size_t code_size = (size_t)(vmm_guest_code_end - vmm_guest_code);
    memcpy(vm->ram + VMM_CODE_BASE, vmm_guest_code, code_size);
    return 0;
}

static void put_u32(struct vmm *vm, uint64_t gpa, uint32_t value)
{
    memcpy(vm->ram + gpa, &value, sizeof(value));
}

/* Gives every vCPU the CPUID that KVM supports, so the guest sees a plausible processor. */
static int setup_cpuid(struct vmm *vm, struct vmm_vcpu *v)
{
    static struct kvm_cpuid2 *cpuid;
    if (!cpuid) {
        for (uint32_t n = 64; n <= 4096 && !cpuid; n *= 2) {
            struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
            if (!c)
                return -1;
            c->nent = n;
            if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
                cpuid = c;
            else
                free(c);
        }
        if (!cpuid)
            return -1;
    }
    return ioctl(v->fd, KVM_SET_CPUID2, cpuid);
}

/* Real mode at VMM_CODE_BASE:0, with the vCPU index and its per-CPU area in registers. */
static int setup_registers(struct vmm_vcpu *v)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    sregs.cs.selector = VMM_CODE_BASE >> 4;
    sregs.cs.base = VMM_CODE_BASE;
    struct kvm_segment *data[] = {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        data[i]->selector = 0;
        data[i]->base = 0;
    }
    uint64_t stack = VMM_STACK_BASE + (uint64_t)v->index * VMM_STACK_SIZE;
    sregs.ss.selector = (uint16_t)(stack >> 4);
    sregs.ss.base = stack;
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return -1;

    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = 0;
    regs.rflags = 0x2;
    regs.rsp = VMM_STACK_SIZE;
    regs.rsi = v->index;
    regs.rbx = VMM_PERCPU_BASE + (uint64_t)v->index * VMM_PERCPU_SIZE;
    return ioctl(v->fd, KVM_SET_REGS, &regs);
}

static int create_vcpu(struct vmm *vm, struct vmm_vcpu *v, int run_size, char *err,
                       size_t errlen)
{
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->index);
    if (v->fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VCPU %u failed: %s", v->index, strerror(errno));
        return -1;
    }
    v->run_size = (size_t)run_size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        snprintf(err, errlen, "cannot map kvm_run of vCPU %u: %s", v->index, strerror(errno));
        return -1;
    }
    if (setup_cpuid(vm, v) < 0 || setup_registers(v) < 0) {
        snprintf(err, errlen, "cannot set up vCPU %u: %s", v->index, strerror(errno));
        return -1;
    }
    uint64_t area = VMM_PERCPU_BASE + (uint64_t)v->index * VMM_PERCPU_SIZE;
    v->command = (volatile uint32_t *)(vm->ram + area + VMM_PC_COMMAND);
    v->sleep_ns = INT64_MAX;
    v->clock_running = true;
    return 0;
}

static int create_vcpus(struct vmm *vm, char *err, size_t errlen)
{
    int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max <= 0)
        max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max > 0 && vm->opt.cpus > (uint32_t)max) {
        snprintf(err, errlen, "KVM allows at most %d vCPUs here", max);
        return -1;
    }
    int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run)) {
        snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
        return -1;
    }
    vm->vcpus = calloc(vm->opt.cpus, sizeof(*vm->vcpus));
    if (!vm->vcpus) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        vm->vcpus[i].vm = vm;
        vm->vcpus[i].index = i;
        vm->vcpus[i].fd = -1;
    }
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (create_vcpu(vm, &vm->vcpus[i], run_size, err, errlen) < 0)
            return -1;
    }
    int khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
    if (khz <= 0) {
        snprintf(err, errlen, "KVM_GET_TSC_KHZ failed: %s", strerror(errno));
        return -1;
    }
    vm->tsc_khz = (uint32_t)khz;
    return 0;
}

int vmm_kvm_open(struct vmm *vm, char *err, size_t errlen)
{
    vm->kvm_fd = vm->vm_fd = -1;
    int rc = open_kvm(&vm->kvm_fd, err, errlen);
    if (rc != 0)
        return rc;
    vm->vm_fd = create_vm(vm->kvm_fd, err, errlen);
    if (vm->vm_fd < 0)
        return VMM_EXIT_USAGE;
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VMM_TSS_ADDR) < 0) {
        snprintf(err, errlen, "KVM_SET_TSS_ADDR failed: %s", strerror(errno));
        return VMM_EXIT_ERROR;
    }
    if (setup_memory(vm, err, errlen) < 0 || create_vcpus(vm, err, errlen) < 0)
        return VMM_EXIT_ERROR;
    put_u32(vm, VMM_CTL_TSC_KHZ, vm->tsc_khz);
    put_u32(vm, VMM_CTL_FREQ, vm->opt.freq);
    put_u32(vm, VMM_CTL_TIMEOUT, vm->opt.timeout);
    if (install_kick_handler() < 0) {
        snprintf(err, errlen, "cannot install the vCPU kick handler: %s", strerror(errno));
        return VMM_EXIT_ERROR;
    }
    return 0;
}

/* ---- the vCPU threads ---- */

static void vcpu_fail(struct vmm_vcpu *v, const char *what)
{
    struct vmm *vm = v->vm;
    fprintf(stderr, "vmwdt-vmm: vCPU %u: %s\n", v->index, what);
    pthread_mutex_lock(&vm->lock);
    vm->failed = 1;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

/*
 * Records whether the vCPU's guest clock runs. A vCPU out of KVM_RUN (halted or paused) adds
 * neither guest time nor thread CPU time, so for those clocks the trace freezes the replayer's
 * clock too; a MONOTONIC clock never stops, so nothing is recorded for it.
 */
static void vcpu_set_clock(struct vmm_vcpu *v, bool running)
{
    struct vmm *vm = v->vm;
    if (v->clock_running == running)
        return;
    v->clock_running = running;
    if (vm->trace && vm->opt.clock != VMWDT_CLOCK_MONOTONIC)
        vmm_trace_guest(vm->trace, v->index, running);
}

static void to_timespec(int64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

/* Whether a halted vCPU must wake up: an interrupt it can take, a new command, its bound. */
static bool halt_over(struct vmm_vcpu *v)
{
    if (v->irq_pending && v->run->if_flag)
        return true;
    if (__atomic_load_n(v->command, __ATOMIC_ACQUIRE) != VMM_CMD_RUN)
        return true;
    return vmm_now_ns() >= v->sleep_ns;
}

/*
 * Blocks while the vCPU must stay out of KVM_RUN: paused by the host, or halted by the guest.
 * Returns false when the run is over.
 */
static bool vcpu_wait(struct vmm_vcpu *v)
{
    struct vmm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    for (;;) {
        if (vm->stop || vm->failed) {
            pthread_mutex_unlock(&vm->lock);
            return false;
        }
        if (v->paused) {
            vcpu_set_clock(v, false);
            pthread_cond_wait(&vm->cond, &vm->lock);
            continue;
        }
        if (!v->halted || halt_over(v))
            break;
        vcpu_set_clock(v, false);
        if (v->sleep_ns == INT64_MAX) {
            pthread_cond_wait(&vm->cond, &vm->lock);
        } else {
            struct timespec ts;
            to_timespec(v->sleep_ns, &ts);
            pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
        }
    }
    if (v->halted) {
        v->halted = false;
        v->sleep_ns = INT64_MAX;
    }
    pthread_mutex_unlock(&vm->lock);
    return true;
}

/* Injects the pending stall interrupt when the guest can take it, else asks for a window. */
static int vcpu_prepare_irq(struct vmm_vcpu *v)
{
    struct vmm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    bool pending = v->irq_pending;
    pthread_mutex_unlock(&vm->lock);
    struct kvm_run *run = v->run;
    if (!pending) {
        run->request_interrupt_window = 0;
        return 0;
    }
    if (!run->ready_for_interrupt_injection) {
        run->request_interrupt_window = 1;
        return 0;
    }
    struct kvm_interrupt irq = {.irq = VMM_STALL_VECTOR};
    if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0)
        return -1;
    pthread_mutex_lock(&vm->lock);
    v->irq_pending = false;
    pthread_mutex_unlock(&vm->lock);
    run->request_interrupt_window = 0;
    return 0;
}

/* A message the guest wrote to VMM_AUX_REPORT: at most 120 printable bytes from guest RAM. */
static void aux_report(struct vmm_vcpu *v, uint32_t gpa)
{
    char msg[121];
    size_t n = 0;
    while (n < sizeof(msg) - 1 && gpa + n < VMM_RAM_SIZE) {
        char c = (char)v->vm->ram[gpa + n];
        if (c == '\0')
            break;
        msg[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    msg[n] = '\0';
    vmm_event(v->vm, v->index, "guest reported: %s", msg);
}

static void handle_aux(struct vmm_vcpu *v, uint64_t offset, bool is_write, uint8_t *data,
                       uint32_t len)
{
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    uint32_t value = 0;
    memcpy(&value, data, len < 4 ? len : 4);
    if (offset == VMM_AUX_REPORT)
        aux_report(v, value);
    else if (offset == VMM_AUX_SLEEP_MS)
        v->sleep_ns = vmm_now_ns() + (int64_t)value * 1000000;
}

static void handle_wdt(struct vmm_vcpu *v, uint64_t offset, bool is_write, uint8_t *data,
                       uint32_t len)
{
    struct vmm *vm = v->vm;
    if (is_write) {
        vmwdt_plugin_mmio_write(vm->plugin, vm->dev, offset, data, len);
        if (vm->trace)
            vmm_trace_write(vm->trace, offset, data, len);
    } else {
        vmwdt_plugin_mmio_read(vm->plugin, vm->dev, offset, data, len);
        if (vm->trace)
            vmm_trace_read(vm->trace, offset, len);
    }
}

static void handle_mmio(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    uint64_t addr = run->mmio.phys_addr;
    uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : 8;
    bool is_write = run->mmio.is_write != 0;
    if (addr >= VMM_WDT_BASE && addr < VMM_WDT_BASE + VMM_WDT_SIZE) {
        handle_wdt(v, addr - VMM_WDT_BASE, is_write, run->mmio.data, len);
    } else if (addr >= VMM_AUX_BASE && addr < VMM_AUX_BASE + VMM_AUX_SIZE) {
        handle_aux(v, addr - VMM_AUX_BASE, is_write, run->mmio.data, len);
    } else if (!is_write) {
        /* Nothing lives there: reads see zeros, writes are dropped. */
        memset(run->mmio.data, 0, len);
    }
}

/* Handles one exit; returns false when the vCPU cannot go on. */
static bool vcpu_exit(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    char what[96];
    switch (run->exit_reason) {
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        return true;
    case KVM_EXIT_HLT:
        v->halted = true;
        vcpu_set_clock(v, false);
        return true;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_IO:
        if (run->io.direction == KVM_EXIT_IO_IN)
            memset((uint8_t *)run + run->io.data_offset, 0, (size_t)run->io.size * run->io.count);
        return true;
    case KVM_EXIT_SHUTDOWN:
        vcpu_fail(v, "the guest shut down (triple fault)");
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(what, sizeof(what), "KVM entry failed (reason 0x%llx)",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        vcpu_fail(v, what);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        snprintf(what, sizeof(what), "KVM internal error (suberror %u)", run->internal.suberror);
        vcpu_fail(v, what);
        return false;
    default:
        snprintf(what, sizeof(what), "unexpected KVM exit reason %u", run->exit_reason);
        vcpu_fail(v, what);
        return false;
    }
}

/* The thread's CPU time and its /proc accounting (utime, stime, guest_time), for the summary. */
static void vcpu_collect_stats(struct vmm_vcpu *v)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        v->thread_cpu_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)v->tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    long long field[44] = {0};
    int k = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok && k < 44;
         tok = strtok_r(NULL, " ", &save), k++)
        field[k] = strtoll(tok, NULL, 10);
    if (k < 44)
        return;
    v->utime_ticks = field[14];
    v->stime_ticks = field[15];
    v->guest_ticks = field[43];
    v->stats_valid = true;
}

static void *vcpu_thread(void *arg)
{
    struct vmm_vcpu *v = arg;
    struct vmm *vm = v->vm;
    tls_run = v->run;
    v->tid = gettid();
    int rc = vmwdt_plugin_set_vcpu_thread(vm->plugin, vm->dev, v->index, getpid(), v->tid);
    if (rc < 0) {
        char what[128];
        snprintf(what, sizeof(what), "vmwdt_set_vcpu_thread failed: %s",
                 vmwdt_plugin_strerror(vm->plugin, rc));
        vcpu_fail(v, what);
        return NULL;
    }
    while (vcpu_wait(v)) {
        if (vcpu_prepare_irq(v) < 0) {
            vcpu_fail(v, "KVM_INTERRUPT failed");
            break;
        }
        vcpu_set_clock(v, true);
        int64_t t0 = vmm_now_ns();
        int r = ioctl(v->fd, KVM_RUN, 0);
        int saved = errno;
        v->in_run_ns += vmm_now_ns() - t0;
        if (r < 0) {
            if (saved == EINTR || saved == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            vcpu_fail(v, strerror(saved));
            break;
        }
        if (!vcpu_exit(v))
            break;
    }
    vcpu_set_clock(v, false);
    vcpu_collect_stats(v);
    return NULL;
}

int vmm_kvm_start_vcpus(struct vmm *vm)
{
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        int rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (rc != 0) {
            fprintf(stderr, "vmwdt-vmm: cannot start vCPU %u: %s\n", i, strerror(rc));
            /* A VM that lacks a vCPU has failed: the threads already started end, and the
             * exit status says so. */
            pthread_mutex_lock(&vm->lock);
            vm->failed = 1;
            pthread_cond_broadcast(&vm->cond);
            pthread_mutex_unlock(&vm->lock);
            return -1;
        }
        v->thread_started = true;
    }
    return 0;
}

void vmm_kvm_kick(struct vmm_vcpu *v)
{
    pthread_cond_broadcast(&v->vm->cond);
    if (v->thread_started)
        pthread_kill(v->thread, VMM_KICK_SIGNAL);
}

void vmm_kvm_stop_vcpus(struct vmm *vm)
{
    if (!vm->vcpus)
        return;
    pthread_mutex_lock(&vm->lock);
    vm->stop = true;
    for (uint32_t i = 0; i < vm->opt.cpus; i++)
        vmm_kvm_kick(&vm->vcpus[i]);
    pthread_mutex_unlock(&vm->lock);
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (vm->vcpus[i].thread_started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            vm->vcpus[i].thread_started = false;
        }
    }
}

void vmm_kvm_close(struct vmm *vm)
{
    for (uint32_t i = 0; vm->vcpus && i < vm->opt.cpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        if (v->run)
            munmap(v->run, v->run_size);
        if (v->fd >= 0)
            close(v->fd);
    }
    free(vm->vcpus);
    vm->vcpus = NULL;
    if (vm->ram)
        munmap(vm->ram, VMM_RAM_SIZE);
    vm->ram = NULL;
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vm->vm_fd = vm->kvm_fd = -1;
}
