/*
 * Writes the trace linux-8cpu-hour.jsonl: the Linux driver's cadence on 8 vCPUs for an hour of
 * virtual time, with vCPU 5 hanging at half time.
 *
 * The driver (drivers/misc/vcpu_stall_detector.c, defaults): at CPU online it writes
 * CLOCK_FREQ_HZ = 10, LOAD_CNT = 10 * 8 s = 80, STATUS = 1; its per-CPU hrtimer writes
 * LOAD_CNT = 80 every 8 s / 2 = 4 s. vCPU c comes online at c * 250 ms. vCPU 5's timer stops
 * after its last pet at or before 1800 s (1.25 s + 449 * 4 s = 1797.25 s).
 *
 * The expected events follow DESIGN.md section 2, not any run of the program: a pet of n
 * ticks at f Hz at t0 raises the interrupt at t0 + n/f and requests the reset at t0 + 2n/f,
 * so 1797.25 + 8 = 1805.25 s and 1797.25 + 16 = 1813.25 s. Every 600 s an expect record checks
 * that nothing else happened, and the STATUS of every vCPU is read back.
 *
 * Usage: gen_linux_hour OUT.jsonl
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#define NS INT64_C(1000000000)
#define CPUS 8
#define FREQ 10
#define TIMEOUT_S 8
#define LOAD (FREQ * TIMEOUT_S)
#define PET_PERIOD (TIMEOUT_S * NS / 2)
#define STAGGER (NS / 4)
#define HOUR (3600 * NS)
#define HUNG_CPU 5
#define HANG_AT (1800 * NS)
#define CHECK_EVERY (600 * NS)

static int64_t online_at(int cpu)
{
    return cpu * STAGGER;
}

/* vCPU 5's last pet: the last point of its 4 s cadence at or before HANG_AT. */
static int64_t last_pet_of_hung(void)
{
    int64_t t0 = online_at(HUNG_CPU);
    return t0 + (HANG_AT - t0) / PET_PERIOD * PET_PERIOD;
}

static void write_reg(FILE *f, int64_t t, int cpu, const char *reg, uint32_t v)
{
    fprintf(f, "{\"t\": %" PRId64 ", \"op\": \"write\", \"cpu\": %d, \"reg\": \"%s\", \"value\": %" PRIu32 "}\n",
            t, cpu, reg, v);
}

static void checkpoint(FILE *f, int64_t t)
{
    int64_t irq = last_pet_of_hung() + (int64_t)LOAD * NS / FREQ;
    int64_t reset = last_pet_of_hung() + 2 * (int64_t)LOAD * NS / FREQ;
    for (int c = 0; c < CPUS; c++)
        fprintf(f, "{\"t\": %" PRId64 ", \"op\": \"read\", \"cpu\": %d, \"reg\": \"STATUS\", \"expect\": %d}\n",
                t, c, c == HUNG_CPU && t >= irq ? 3 : 1);
    /* The window (t - CHECK_EVERY, t] holds the hung vCPU's events, or nothing. */
    fprintf(f, "{\"t\": %" PRId64 ", \"op\": \"expect\", \"irq\": [", t);
    if (irq > t - CHECK_EVERY && irq <= t)
        fprintf(f, "[%" PRId64 ", %d]", irq, HUNG_CPU);
    fprintf(f, "], \"reset\": [");
    if (reset > t - CHECK_EVERY && reset <= t)
        fprintf(f, "[%" PRId64 ", %d]", reset, HUNG_CPU);
    fprintf(f, "]}\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_linux_hour OUT.jsonl\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f, "{\"vmwdt_trace\": 1, \"cpus\": %d, \"action\": \"irq_then_reset\", \"comment\": "
               "\"Linux driver defaults on 8 vCPUs for an hour; vCPU 5 hangs at 1800 s\"}\n", CPUS);
    /* Every event of the schedule falls on a multiple of the 250 ms stagger. */
    for (int64_t t = 0; t <= HOUR; t += STAGGER) {
        for (int c = 0; c < CPUS; c++) {
            int64_t since = t - online_at(c);
            if (since == 0) {
                write_reg(f, t, c, "CLOCK_FREQ_HZ", FREQ);
                write_reg(f, t, c, "LOAD_CNT", LOAD);
                write_reg(f, t, c, "STATUS", 1);
            } else if (since > 0 && since % PET_PERIOD == 0 &&
                       (c != HUNG_CPU || t <= last_pet_of_hung())) {
                write_reg(f, t, c, "LOAD_CNT", LOAD);
            }
        }
        if (t > 0 && t % CHECK_EVERY == 0)
            checkpoint(f, t);
    }
    fprintf(f, "{\"t\": %" PRId64 ", \"op\": \"end\"}\n", HOUR);
    if (fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
