/* A minimal C host: one vCPU whose guest enables the watchdog and then stops petting it. */
#include <stdio.h>
#include <stdint.h>
#include <unistd.h>
#include <vmwdt.h>

static void on_irq(void *opaque, uint32_t cpu) { printf("stall interrupt on vCPU %u\n", cpu); }
static void on_reset(void *opaque, uint32_t cpu) { printf("reset requested by vCPU %u\n", cpu); *(int *)opaque = 1; }

static void guest_write(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t value)
{
    vmwdt_mmio_write(dev, cpu * VMWDT_REG_STRIDE + reg, &value, sizeof(value)); /* from KVM_EXIT_MMIO */
}

int main(void)
{
    int reset = 0;
    struct vmwdt_config cfg = {.size = sizeof(cfg), .cpu_count = 1, .clock = VMWDT_CLOCK_MONOTONIC};
    struct vmwdt_host_ops ops = {.size = sizeof(ops), .opaque = &reset,
                                 .raise_irq = on_irq, .request_reset = on_reset};
    vmwdt *dev;
    int rc = vmwdt_create(&cfg, &ops, &dev);
    if (rc < 0) { fprintf(stderr, "vmwdt_create: %s\n", vmwdt_strerror(rc)); return 1; }
    guest_write(dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 100);  /* what the Linux driver writes, faster */
    guest_write(dev, 0, VMWDT_REG_LOAD_CNT, 20);        /* a 200 ms window */
    guest_write(dev, 0, VMWDT_REG_STATUS, 1);           /* enable; the guest never pets again */
    for (int i = 0; i < 100 && !reset; i++)
        usleep(10000);
    vmwdt_destroy(dev);                                 /* no callback runs after this */
    return reset ? 0 : 1;
}
