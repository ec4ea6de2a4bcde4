/*
 * A stand-in for a Linux kernel, as an ELF vmlinux, to test vmwdt-vmm's --kernel path on any
 * KVM: it is entered like Linux's startup_64 (64-bit mode, the VMM's page tables, RSI = the
 * zero page), installs an NMI handler, says so on the 16550 at 0x3f8, executes an INT3 and a
 * UD2, as Linux's text patching and BUG() do, whose #BP and #UD handlers check the RIP they
 * get and say so (where KVM emulates the guest's kernel, KVM cannot execute them and the VMM
 * raises the exceptions: vmm_emulate.c), starts CPU 1 as Linux
 * does (INIT and SIPI through the in-kernel local APIC; CPU 1 runs a real-mode trampoline at
 * 0x8000 that says so on the console and halts), arms its vCPU's watchdog at 0xfe000000 (1 s:
 * CLOCK_FREQ_HZ 10, LOAD_CNT 10, STATUS 1) and spins in stuck_here with interrupts off. The
 * stall NMI then lands in nmi_handler, which reports it and spins too, so the watchdog's
 * second window resets the VM.
 */

#define LAPIC      0xfee00000
#define TRAMPOLINE 0x8000
#define AP_FLAG    0x600  /* CPU 1 writes 1 here once its line is out */
    .code64
    .text
    .globl _start
_start:
    cli
    lea nmi_handler(%rip), %rax
    mov $2, %edi
    call set_gate
    lea bp_handler(%rip), %rax
    mov $3, %edi
    call set_gate
    lea ud_handler(%rip), %rax
    mov $6, %edi
    call set_gate
    lidt idtr(%rip)

    lea msg_up(%rip), %rsi
    call puts

    /* #BP is a trap: its handler gets the RIP after the INT3. #UD is a fault: the RIP of the
     * UD2, which the handler steps over. */
    int3
    .globl after_int3
after_int3:
    .globl ud2_here
ud2_here:
    ud2

    /* CPU 1: the trampoline to 0x8000, then INIT and SIPI (vector 0x08: CS:IP = 0800:0000). */
    lea trampoline(%rip), %rsi
    mov $TRAMPOLINE, %edi
    mov $(trampoline_end - trampoline), %ecx
    rep movsb
    movl $0, AP_FLAG
    mov $LAPIC, %edi
    movl $0x1ff, 0xf0(%rdi)        /* spurious vector register: APIC on */
    movl $(1 << 24), 0x310(%rdi)   /* destination: APIC ID 1 */
    movl $0x4500, 0x300(%rdi)      /* INIT */
    movl $(1 << 24), 0x310(%rdi)
    movl $(0x4600 | (TRAMPOLINE >> 12)), 0x300(%rdi) /* SIPI */
5:  pause
    cmpl $1, AP_FLAG
    jne 5b

    mov $0xfe000000, %edi          /* vCPU 0's watchdog registers */
    movl $10, 12(%rdi)             /* CLOCK_FREQ_HZ */
    movl $10, 4(%rdi)              /* LOAD_CNT: one second */
    movl $1, 0(%rdi)               /* STATUS: enabled */

    lea msg_stuck(%rip), %rsi
    call puts
    .globl stuck_here
stuck_here:
    jmp stuck_here

/* Vector EDI: a 64-bit interrupt gate to RAX through selector 0x10, present, DPL 0. */
set_gate:
    shl $4, %edi
    lea idt(%rip), %rdx
    add %rdx, %rdi
    mov %ax, 0(%rdi)               /* offset 15:0 */
    movw $0x10, 2(%rdi)            /* selector */
    movw $0x8e00, 4(%rdi)          /* present, DPL 0, interrupt gate */
    shr $16, %rax
    mov %ax, 6(%rdi)               /* offset 31:16 */
    shr $16, %rax
    mov %eax, 8(%rdi)              /* offset 63:32 */
    ret

bp_handler:
    lea msg_bp(%rip), %rsi
    lea after_int3(%rip), %rax
    cmp %rax, (%rsp)
    je 1f
    lea msg_bp_bad(%rip), %rsi
1:  call puts
    iretq

ud_handler:
    lea msg_ud(%rip), %rsi
    lea ud2_here(%rip), %rax
    cmp %rax, (%rsp)
    je 1f
    lea msg_ud_bad(%rip), %rsi
1:  call puts
    addq $2, (%rsp)                /* past the UD2 */
    iretq

    .globl nmi_handler
nmi_handler:
    lea msg_nmi(%rip), %rsi
    call puts
1:  jmp 1b

/* Writes the NUL-terminated string at RSI to COM1, polling the line status first. */
puts:
    mov $0x3f8, %dx
2:  lodsb
    test %al, %al
    jz 3f
    mov %al, %bl
    add $5, %dx                    /* LSR */
4:  in %dx, %al
    test $0x20, %al                /* THRE */
    jz 4b
    sub $5, %dx
    mov %bl, %al
    out %al, %dx
    jmp 2b
3:  ret

/* CPU 1's real-mode code, copied to TRAMPOLINE: CS = 0x0800, IP = 0. */
    .code16
trampoline:
    cli
    mov %cs, %ax
    mov %ax, %ds
    mov $(msg_ap - trampoline), %si
    mov $0x3f8, %dx
6:  lodsb
    test %al, %al
    jz 7f
    out %al, %dx
    jmp 6b
7:  xor %ax, %ax
    mov %ax, %ds
    movl $1, AP_FLAG
8:  hlt
    jmp 8b
msg_ap:
    .asciz "synthetic: CPU 1 up\n"
trampoline_end:
    .code64

    .data
    .balign 16
idt:
    .fill 16 * 32, 1, 0
idtr:
    .word 16 * 32 - 1
    .quad idt
msg_up:
    .asciz "synthetic: up\n"
msg_stuck:
    .asciz "synthetic: stuck with interrupts off\n"
msg_nmi:
    .asciz "synthetic: NMI\n"
msg_bp:
    .asciz "synthetic: #BP after the INT3\n"
msg_bp_bad:
    .asciz "synthetic: #BP at a wrong RIP\n"
msg_ud:
    .asciz "synthetic: #UD at the UD2\n"
msg_ud_bad:
    .asciz "synthetic: #UD at a wrong RIP\n"

    .section .note.GNU-stack, "", @progbits
