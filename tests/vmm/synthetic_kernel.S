/*
 * A stand-in for a Linux kernel, as an ELF vmlinux, to test vmwdt-vmm's --kernel path on any
 * KVM: it is entered like Linux's startup_64 (64-bit mode, the VMM's page tables, RSI = the
 * zero page), installs an NMI handler, says so on the 16550 at 0x3f8, arms its vCPU's watchdog
 * at 0xfe000000 (1 s: CLOCK_FREQ_HZ 10, LOAD_CNT 10, STATUS 1) and spins in stuck_here with
 * interrupts off. The stall NMI then lands in nmi_handler, which reports it and spins too, so
 * the watchdog's second window resets the VM.
 */
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
