/*
 * The guest of vmwdt-vmm: 16-bit real-mode code that every vCPU runs, behaving like the Linux
 * driver drivers/misc/vcpu_stall_detector.c on one CPU. It is assembled into the host binary
 * as data (vmm_guest_code .. vmm_guest_code_end) and copied to VMM_CODE_BASE in guest RAM.
 *
 * On entry (set by the host): CS:IP = VMM_CODE_BASE:0, DS = ES = 0, SS:SP = the vCPU's own
 * stack, ESI = the vCPU index, EBX = the address of the vCPU's VMM_PERCPU area.
 *
 * Only relative jumps and label differences are used, so the bytes run at any segment base.
 */
#include "vmm_layout.h"

/* A label's offset from the start of the code, i.e. its IP in the guest. */
#define OFF(label) ((label) - vmm_guest_code)

/* The watchdog's registers, relative to this vCPU's 16 bytes (DESIGN.md section 2). */
#define WDT_STATUS   0x00
#define WDT_LOAD_CNT 0x04
#define WDT_FREQ     0x0c

    .section .rodata.vmm_guest, "a"
    .globl vmm_guest_code
    .globl vmm_guest_code_end
    .code16
vmm_guest_code:
    cli
    /* The stall interrupt's IVT entry; every vCPU writes the same value. */
    movw $OFF(stall_handler), VMM_STALL_VECTOR * 4
    movw $(VMM_CODE_BASE >> 4), VMM_STALL_VECTOR * 4 + 2

    /* EDI: this vCPU's watchdog registers. */
    mov %esi, %edi
    shl $4, %edi
    add $VMM_WDT_BASE, %edi

    /* The pet interval in TSC ticks, timeout / 2: tsc_khz * 500 * timeout. */
    mov VMM_CTL_TSC_KHZ, %eax
    mov $500, %ecx
    mul %ecx
    mull VMM_CTL_TIMEOUT
    mov %eax, VMM_PC_INTERVAL(%bx)
    mov %edx, VMM_PC_INTERVAL + 4(%bx)

    /* As the driver does at CPU online: CLOCK_FREQ_HZ = f, LOAD_CNT = f * timeout, STATUS = 1. */
    mov VMM_CTL_FREQ, %eax
    mov %eax, WDT_FREQ(%di)
    mull VMM_CTL_TIMEOUT
    mov %eax, VMM_PC_LOAD_CNT(%bx)
    mov %eax, WDT_LOAD_CNT(%di)
    movl $1, WDT_STATUS(%di)
    call schedule_next
    sti

main_loop:
    /* The host's command for this vCPU: keep running, or hang one way or the other. */
    mov VMM_PC_COMMAND(%bx), %eax
    cmp $VMM_CMD_HANG_IRQS_OFF, %eax
    je hang_irqs_off
    cmp $VMM_CMD_HANG_IRQS_ON, %eax
    je hang_irqs_on

    /* EAX:ECX = next - now; a borrow means the pet is due. */
    rdtsc
    mov VMM_PC_NEXT(%bx), %ecx
    sub %eax, %ecx
    mov VMM_PC_NEXT + 4(%bx), %eax
    sbb %edx, %eax
    jc pet

    /*
     * Not due: idle until then, as the driver's hrtimer lets the CPU do. The auxiliary device
     * bounds the next HLT to (next - now) / tsc_khz + 1 milliseconds; the stall interrupt
     * also ends it.
     */
    mov %eax, %edx
    mov %ecx, %eax
    divl VMM_CTL_TSC_KHZ
    inc %eax
    mov %eax, VMM_AUX_BASE + VMM_AUX_SLEEP_MS
    hlt
    jmp main_loop

pet:
    /* The driver's hrtimer callback: write the same LOAD_CNT again. */
    mov VMM_PC_LOAD_CNT(%bx), %eax
    mov %eax, WDT_LOAD_CNT(%di)
    call schedule_next
    jmp main_loop

/* next = now + interval: pets missed while the vCPU did not run are skipped, not repeated. */
schedule_next:
    rdtsc
    add VMM_PC_INTERVAL(%bx), %eax
    adc VMM_PC_INTERVAL + 4(%bx), %edx
    mov %eax, VMM_PC_NEXT(%bx)
    mov %edx, VMM_PC_NEXT + 4(%bx)
    ret

/* A stall that the stall interrupt cannot reach. */
hang_irqs_off:
    cli
1:  jmp 1b

/* A stall with interrupts enabled: the stall interrupt gets through. */
hang_irqs_on:
    sti
1:  jmp 1b

/*
 * The stall interrupt's handler: the driver's handler panics with "vCPU stall detector", so
 * this one reports that message to the host and then stops like panic() does, spinning with
 * interrupts disabled (the watchdog then resets the VM).
 */
stall_handler:
    mov $(VMM_CODE_BASE + OFF(stall_message)), %eax
    mov %eax, VMM_AUX_BASE + VMM_AUX_REPORT
    cli
1:  jmp 1b

stall_message:
    .asciz "vCPU stall detector"
vmm_guest_code_end:

    .code64
    .section .note.GNU-stack, "", @progbits
