/*
 * A stand-in for a Linux kernel, as an ELF vmlinux, to test vmwdt-vmm's --kernel path on any
 * KVM: it is entered like Linux's startup_64 (64-bit mode, the VMM's page tables, RSI = the
 * zero page), installs an NMI handler, says so on the 16550 at 0x3f8, starts CPU 1 as Linux
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
    /* The NMI gate (vector 2): a 64-bit interrupt gate to nmi_handler through selector 0x10. */
    lea idt(%rip), %rdi
    lea nmi_handler(%rip), %rax
    mov %ax, 32(%rdi)              /* offset 15:0 */
    movw $0x10, 34(%rdi)           /* selector */
    movw $0x8e00, 36(%rdi)         /* present, DPL 0, interrupt gate */
    shr $16, %rax
    mov %ax, 38(%rdi)              /* offset 31:16 */
    shr $16, %rax
    mov %eax, 40(%rdi)             /* offset 63:32 */
    lidt idtr(%rip)

    lea msg_up(%rip), %rsi
    call puts

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

    .section .note.GNU-stack, "", @progbits
