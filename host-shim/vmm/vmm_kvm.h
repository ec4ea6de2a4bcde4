/*
 * The KVM side of the VM: the device, the VM, guest RAM and the vCPU file descriptors. A VM is
 * made in steps so that a guest set-up (or a restore) chooses what goes in between: open,
 * RAM, memory slots, then the vCPUs.
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm.h"

/*
 * Opens the KVM device and creates the VM: 0, or VMM_EXIT_USAGE (KVM missing or unusable)
 * or VMM_EXIT_ERROR, with a message in err.
 */
int vmm_kvm_open(struct vmm *vm, char *err, size_t errlen);

/*
 * The in-kernel interrupt controllers (PIC, IOAPIC, a LAPIC per vCPU) and PIT; before the
 * vCPUs are created. 0 or -1 with a message.
 */
int vmm_kvm_create_irqchip(struct vmm *vm, char *err, size_t errlen);

/* Sets the level of an interrupt line of the in-kernel PIC and IOAPIC; 0 or -1. */
int vmm_kvm_irq_line(struct vmm *vm, uint32_t irq, bool level);

/* Allocates size bytes of guest RAM (vm->ram, zeroed); 0 or -1 with a message. */
int vmm_kvm_alloc_ram(struct vmm *vm, uint64_t size, char *err, size_t errlen);

/* Maps guest-physical [gpa, gpa + size) of vm->ram into the VM as memory slot slot. */
int vmm_kvm_map_ram(struct vmm *vm, uint32_t slot, uint64_t gpa, uint64_t size, char *err,
                    size_t errlen);

/* Creates opt.cpus vCPUs with KVM's supported CPUID and reads the TSC frequency. */
int vmm_kvm_create_vcpus(struct vmm *vm, char *err, size_t errlen);

/* Closes everything vmm_kvm_* made; the vCPU threads must have ended. */
void vmm_kvm_close(struct vmm *vm);

#endif /* VMM_KVM_H */
