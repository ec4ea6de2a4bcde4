/*
 * Checkpoints to a file and live migration to a child process.
 *
 * --migrate-at: the source starts the destination (itself, through /proc/self/exe) with the
 * same command line less --restore, plus the VM's shape (--cpus,
 * --freq, --timeout, --clock) and the hidden --migrate-fd naming its end of a socket pair.
 * The destination builds its empty VM and device while the source still runs, then writes
 * 'R'; only then does the source stop its vCPUs, so that process start-up is not downtime.
 * The source streams the checkpoint; the destination reads and validates all of it, loads
 * it, and writes 'A'. From that byte on the VM is the destination's; the source ends its own
 * copy and waits. Without the 'A' (the destination refused the stream and exited 2, or
 * died), the source still has every part of the VM and resumes it.
 *
 * Timestamps: the destination of --migrate-at continues the source's timeline (its output
 * and trace times count from the source's start, so the downtime shows as a gap, and the
 * remaining --hang, --pause and --migrate-at times and --seconds keep their meaning); the
 * source and destination share CLOCK_MONOTONIC, being on one host. --restore starts a new
 * run: its times and --seconds count from the moment its vCPUs run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm_checkpoint.h"
#include "vmm_migrate.h"
#include "vmm_output.h"
#include "vmm_restore.h"
#include "vmm_state.h"

#define MS(ns) ((double)(ns) / 1e6)
#define VMM_MIGRATE_WAIT_S 10 /* the longest the source waits for each step of the destination */

int vmm_migrate_save(struct vmm *vm)
{
    char err[4400] = "", tmp[4096];
    struct vmm_ckpt c;
    const char *path = vm->opt.save_path;
    snprintf(tmp, sizeof(tmp), "%s.part", path);
    int rc = vmm_checkpoint_take(vm, &c, true, err, sizeof(err));
    int fd = rc < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (rc == 0 && fd < 0)
        snprintf(err, sizeof(err), "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0 && (vmm_ckpt_write(fd, &c, err, sizeof(err)) < 0 || fsync(fd) < 0)) {
        if (!err[0])
            snprintf(err, sizeof(err), "writing %s failed: %s", tmp, strerror(errno));
        close(fd);
        fd = -1;
        unlink(tmp);
    }
    /* Renamed into place only once whole, so FILE is never a half-written checkpoint. */
    if (fd >= 0 && (close(fd) < 0 || rename(tmp, path) < 0)) {
        snprintf(err, sizeof(err), "cannot put the checkpoint at %s: %s", path, strerror(errno));
        unlink(tmp);
        fd = -1;
    }
    if (fd < 0) {
        fprintf(stderr, "vmwdt-vmm: checkpoint failed: %s\n", err);
        vmm_checkpoint_release(&c);
        vmm_checkpoint_resume(vm);
        return VMM_EXIT_ERROR;
    }
    struct stat st;
    int64_t written = vmm_now_ns();
    vmm_note("checkpoint of %u vCPUs written to %s (%lld bytes): downtime %.3f ms (last vCPU "
             "stopped to the file written), of which the plugin's sleep and snapshot %.3f ms",
             c.hdr.cpus, path, stat(path, &st) == 0 ? (long long)st.st_size : -1LL,
             MS(written - c.clock.stop_ns), MS(c.clock.plugin_ns));
    vmm_checkpoint_release(&c);
    vm->handed_off = true;
    vm->handoff_status = VMM_EXIT_OK;
    return 0;
}

/* Whether argv[i] is an option the destination must not get; *skip: how many words. */
static bool dropped_option(char **argv, int i, int argc, int *skip)
{
    /* A --save-at before the move has ended the run already; a later one is the
     * destination's. */
    static const char *const names[] = {"--restore", "--migrate-fd"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t n = strlen(names[k]);
        if (strncmp(argv[i], names[k], n) != 0)
            continue;
        if (argv[i][n] == '=') {
            *skip = 1;
            return true;
        }
        if (argv[i][n] == '\0') {
            *skip = i + 1 < argc ? 2 : 1;
            return true;
        }
    }
    return false;
}

/* The destination's command line; the strings live in buf. */
static char **destination_argv(struct vmm *vm, int fd, char (*buf)[24])
{
    const struct vmm_options *o = &vm->opt;
    char **argv = calloc((size_t)o->argc + 12, sizeof(char *));
    if (!argv)
        return NULL;
    int n = 0;
    argv[n++] = o->argv[0];
    for (int i = 1; i < o->argc;) {
        int skip;
        if (dropped_option(o->argv, i, o->argc, &skip)) {
            i += skip;
            continue;
        }
        argv[n++] = o->argv[i++];
    }
    snprintf(buf[0], 24, "%u", o->cpus);
    snprintf(buf[1], 24, "%u", o->freq);
    snprintf(buf[2], 24, "%u", o->timeout);
    snprintf(buf[3], 24, "%d", fd);
    const char *extra[] = {"--cpus", buf[0], "--freq", buf[1], "--timeout", buf[2],
                           "--clock", vmm_cli_clock_name(o->clock), "--migrate-fd", buf[3]};
    for (size_t k = 0; k < sizeof(extra) / sizeof(extra[0]); k++)
        argv[n++] = (char *)extra[k];
    return argv;
}

/* Starts the destination with its end of the socket pair; its pid, or -1. */
static pid_t start_destination(struct vmm *vm, int child_fd)
{
    char buf[4][24];
    char **argv = destination_argv(vm, child_fd, buf);
    if (!argv)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec: this process has threads. */
        fcntl(child_fd, F_SETFD, 0);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    free(argv);
    return pid;
}

static int read_byte(int fd)
{
    char b;
    ssize_t n;
    do
        n = read(fd, &b, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? (unsigned char)b : -1;
}

/*
 * The destination did not take the VM: end it (it may be stuck; it has not run the VM, or
 * it would have said 'A'), reap it, say so and go on here.
 */
static void refused(struct vmm *vm, pid_t pid, bool stopped, const char *why)
{
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(status));
    else
        snprintf(how, sizeof(how), "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (stopped)
        vmm_checkpoint_resume(vm);
    vmm_note("migration failed: the destination (pid %d, %s) %s; the VM resumes here", (int)pid,
             how, why);
}

/*
 * Writes the stream to the destination. $VMWDT_MIGRATE_CORRUPT=N (fault injection for the
 * tests) flips byte N of it on the way, so that the destination's refusal can be shown.
 */
static int send_checkpoint(int fd, const struct vmm_ckpt *c, char *err, size_t errlen)
{
    const char *corrupt = getenv("VMWDT_MIGRATE_CORRUPT");
    if (!corrupt || !*corrupt)
        return vmm_ckpt_write(fd, c, err, errlen);
    int mem = memfd_create("vmwdt-ckpt", MFD_CLOEXEC);
    int rc = mem < 0 ? -errno : vmm_ckpt_write(mem, c, err, errlen);
    off_t size = rc == 0 ? lseek(mem, 0, SEEK_CUR) : 0;
    uint8_t *buf = rc == 0 ? malloc((size_t)size) : NULL;
    if (buf && pread(mem, buf, (size_t)size, 0) == size) {
        unsigned long at = strtoul(corrupt, NULL, 10);
        if (at < (unsigned long)size)
            buf[at] ^= 0x01;
        for (off_t done = 0; done < size && rc == 0;) {
            ssize_t n = send(fd, buf + done, (size_t)(size - done), MSG_NOSIGNAL);
            rc = n > 0 ? 0 : -EPIPE;
            done += n > 0 ? n : 0;
        }
    } else if (rc == 0) {
        rc = -ENOMEM;
    }
    free(buf);
    if (mem >= 0)
        close(mem);
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "sending the checkpoint failed: %s", strerror(-rc));
    return rc;
}

void vmm_migrate_out(struct vmm *vm)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        vmm_note("migration failed: socketpair: %s; the VM runs on here", strerror(errno));
        return;
    }
    pid_t pid = start_destination(vm, sv[1]);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        vmm_note("migration failed: cannot start the destination: %s; the VM runs on here",
                 strerror(errno));
        return;
    }
    vmm_note("migrating: destination pid %d is starting", (int)pid);
    /* A destination that hangs must not hold the VM: each wait on it is bounded. */
    struct timeval limit = {.tv_sec = VMM_MIGRATE_WAIT_S};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    if (read_byte(sv[0]) != 'R') {
        close(sv[0]);
        refused(vm, pid, false, "did not start");
        return;
    }
    char err[512] = "";
    struct vmm_ckpt c;
    if (vmm_checkpoint_take(vm, &c, false, err, sizeof(err)) < 0) {
        vmm_checkpoint_release(&c);
        close(sv[0]);
        refused(vm, pid, true, err);
        return;
    }
    int rc = send_checkpoint(sv[0], &c, err, sizeof(err));
    vmm_checkpoint_release(&c);
    int ack = rc == 0 ? read_byte(sv[0]) : -1;
    close(sv[0]);
    if (ack != 'A') {
        refused(vm, pid, true, rc < 0 ? err : "refused the checkpoint");
        return;
    }
    vm->handed_off = true;
    pthread_mutex_lock(&vm->lock);
    vm->handoff_pid = pid;
    bool signalled = vm->stop_signal != 0;
    pthread_mutex_unlock(&vm->lock);
    /* A SIGINT or SIGTERM that came during the move is the destination's to act on. */
    if (signalled)
        kill(pid, vm->stop_signal);
}

int vmm_migrate_wait(struct vmm *vm)
{
    int status = 0;
    while (waitpid(vm->handoff_pid, &status, 0) < 0 && errno == EINTR)
        continue;
    if (WIFSIGNALED(status)) {
        fflush(NULL);
        signal(WTERMSIG(status), SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, WTERMSIG(status));
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        raise(WTERMSIG(status));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : VMM_EXIT_ERROR;
}

int vmm_migrate_read(struct vmm *vm, struct vmm_ckpt *c)
{
    char err[512] = "";
    const char *from = vm->opt.restore_path;
    int fd = from ? open(from, O_RDONLY | O_CLOEXEC) : vm->opt.migrate_fd;
    if (fd < 0) {
        fprintf(stderr, "vmwdt-vmm: cannot open %s: %s\n", from, strerror(errno));
        return VMM_EXIT_USAGE;
    }
    if (!from && send(fd, "R", 1, MSG_NOSIGNAL) != 1) {
        fprintf(stderr, "vmwdt-vmm: the migrating source is gone: %s\n", strerror(errno));
        return VMM_EXIT_ERROR;
    }
    struct vmm_ckpt_shape want = {.cpus = from ? 0 : vm->opt.cpus,
                                  .vcpu_size = sizeof(struct vmm_vcpu_state),
                                  .vm_size = sizeof(struct vmm_vm_state)};
    int rc = vmm_ckpt_read(fd, &want, c, err, sizeof(err));
    if (from)
        close(fd);
    if (rc == 0)
        rc = vmm_restore_options(&vm->opt, c, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "vmwdt-vmm: checkpoint %s refused: %s\n", from ? from : "stream", err);
        vmm_ckpt_free(c);
        return VMM_EXIT_USAGE;
    }
    return 0;
}

int vmm_migrate_accept(struct vmm *vm)
{
    int fd = vm->opt.migrate_fd;
    if (send(fd, "A", 1, MSG_NOSIGNAL) != 1) {
        fprintf(stderr, "vmwdt-vmm: the migrating source is gone: %s\n", strerror(errno));
        return VMM_EXIT_ERROR;
    }
    close(fd);
    vm->opt.migrate_fd = -1;
    return 0;
}
