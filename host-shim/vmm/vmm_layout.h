/*
 * The guest-physical layout shared by the host side of vmwdt-vmm and its guest code
 * (vmm_guest.S). Only #define lines: the file is included by C and by assembly.
 *
 * The guest runs in real mode with DS = 0, so every address below the code is reached as a
 * plain 16-bit offset. The watchdog and the auxiliary device are not backed by memory: each
 * access to them exits to the host as KVM_EXIT_MMIO.
 */
#ifndef VMM_LAYOUT_H
#define VMM_LAYOUT_H

#define VMM_RAM_SIZE     0x100000 /* 1 MiB of guest RAM, with a hole for the two devices */

/* The watchdog, where crosvm maps it. */
#define VMM_WDT_BASE     0x3000
#define VMM_WDT_SIZE     0x1000

/* The auxiliary device of this VMM (not recorded, not part of the watchdog). */
#define VMM_AUX_BASE     0x4000
#define VMM_AUX_SIZE     0x1000
#define VMM_AUX_REPORT   0x00 /* write: guest-physical address of a NUL-terminated message */
#define VMM_AUX_SLEEP_MS 0x04 /* write: the next HLT lasts at most this many milliseconds */

/* The control page: parameters the host writes before the vCPUs start. */
#define VMM_CTL_TSC_KHZ  0x1000 /* u32: the guest TSC frequency (KVM_GET_TSC_KHZ) */
#define VMM_CTL_FREQ     0x1004 /* u32: CLOCK_FREQ_HZ to program */
#define VMM_CTL_TIMEOUT  0x1008 /* u32: the timeout in seconds (LOAD_CNT = freq * timeout) */

/* One 32-byte area per vCPU, its address passed in EBX; the host polls nothing here. */
#define VMM_PERCPU_BASE  0x2000
#define VMM_PERCPU_SIZE  0x20
#define VMM_PC_INTERVAL  0x00 /* u64: TSC ticks between pets (timeout / 2) */
#define VMM_PC_NEXT      0x08 /* u64: TSC value of the next pet */
#define VMM_PC_LOAD_CNT  0x10 /* u32: the count written to LOAD_CNT */
#define VMM_PC_COMMAND   0x1c /* u32: written by the host, polled by the guest */

/* Commands the host leaves in VMM_PC_COMMAND. */
#define VMM_CMD_RUN      0
#define VMM_CMD_HANG_IRQS_OFF 1 /* cli; spin forever */
#define VMM_CMD_HANG_IRQS_ON  2 /* sti; spin forever */

#define VMM_CODE_BASE    0x8000 /* the guest code; CS = VMM_CODE_BASE >> 4, IP = 0 */
#define VMM_STACK_BASE   0x10000 /* vCPU n's stack: VMM_STACK_SIZE bytes from base + n * size */
#define VMM_STACK_SIZE   0x1000

#define VMM_STALL_VECTOR 0x40 /* the stall interrupt's vector (real-mode IVT entry) */

#endif /* VMM_LAYOUT_H */
