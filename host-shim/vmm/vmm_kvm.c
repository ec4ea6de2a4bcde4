/*
 * The KVM side of the VM: opens the device, creates the VM, maps guest RAM and creates the
 * vCPUs with the CPUID that KVM supports. What the guest sees in RAM and registers is the
 * guest set-up's business (vmm_realmode.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm_kvm.h"

#define VMM_TSS_ADDR 0xfffbd000UL /* three pages below 4 GiB, as Intel real mode needs */

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

/* KVM's supported CPUID, asked once. */
static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
    static struct kvm_cpuid2 *cpuid;
    for (uint32_t n = 64; n <= 4096 && !cpuid; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            return NULL;
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            cpuid = c;
        else
            free(c);
    }
    return cpuid;
}

/*
 * Gives every vCPU the CPUID that KVM supports, so the guest sees a plausible processor, with
 * its own initial APIC ID (the vCPU index) in leaf 1 and in the x2APIC topology leaves, which
 * a guest that starts its other CPUs by their APIC IDs relies on.
 */
static int setup_cpuid(struct vmm *vm, struct vmm_vcpu *v)
{
    struct kvm_cpuid2 *cpuid = supported_cpuid(vm->kvm_fd);
    if (!cpuid)
        return -1;
    size_t bytes = sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]);
    struct kvm_cpuid2 *mine = malloc(bytes);
    if (!mine)
        return -1;
    memcpy(mine, cpuid, bytes);
    for (uint32_t i = 0; i < mine->nent; i++) {
        struct kvm_cpuid_entry2 *e = &mine->entries[i];
        if (e->function == 1)
            e->ebx = (e->ebx & 0x00ffffffu) | (v->index << 24);

        else if (e->function == 0xb || e->function == 0x1f)
            e->edx = v->index;
    }
    int rc = ioctl(v->fd, KVM_SET_CPUID2, mine);
    free(mine);
    return rc;
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
    if (setup_cpuid(vm, v) < 0) {
        snprintf(err, errlen, "cannot set up vCPU %u: %s", v->index, strerror(errno));
        return -1;
    }
    v->sleep_ns = INT64_MAX;
    v->clock_running = true;
    return 0;
}

int vmm_kvm_create_vcpus(struct vmm *vm, char *err, size_t errlen)
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
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VM failed: %s (KVM is not usable here)",
                 strerror(errno));
        return VMM_EXIT_USAGE;
    }
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VMM_TSS_ADDR) < 0) {
        snprintf(err, errlen, "KVM_SET_TSS_ADDR failed: %s", strerror(errno));
        return VMM_EXIT_ERROR;
    }
    return 0;
}

int vmm_kvm_create_irqchip(struct vmm *vm, char *err, size_t errlen)
{
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        snprintf(err, errlen, "KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
        return -1;
    }
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        snprintf(err, errlen, "KVM_CREATE_PIT2 failed: %s", strerror(errno));
        return -1;
    }
    vm->irqchip = true;
    return 0;
}

int vmm_kvm_irq_line(struct vmm *vm, uint32_t irq, bool level)
{
    struct kvm_irq_level line = {.irq = irq, .level = level ? 1 : 0};
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &line);
}

int vmm_kvm_alloc_ram(struct vmm *vm, uint64_t size, char *err, size_t errlen)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s",
                 (unsigned long long)size, strerror(errno));
        return -1;
    }
    vm->ram = p;
    vm->ram_size = size;
    return 0;
}

int vmm_kvm_map_ram(struct vmm *vm, uint32_t slot, uint64_t gpa, uint64_t size, char *err,
                    size_t errlen)
{
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)(vm->ram + gpa),
    };
    if (gpa + size > vm->ram_size || ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION failed: %s",
                 gpa + size > vm->ram_size ? "beyond RAM" : strerror(errno));
        return -1;
    }
    return 0;
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
        munmap(vm->ram, vm->ram_size);
    vm->ram = NULL;
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vm->vm_fd = vm->kvm_fd = -1;
}
