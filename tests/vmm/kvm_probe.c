/*
 * Tells the vmwdt-vmm tests whether KVM is usable here: exits 0 when /dev/kvm opens read-write
 * and a VM can be created, 77 (ctest's skip code) with a reason otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define SKIP 77

int main(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        printf("skip: cannot open /dev/kvm read-write: %s\n", strerror(errno));
        return SKIP;
    }
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        printf("skip: /dev/kvm does not speak KVM API %d\n", KVM_API_VERSION);
        close(kvm);
        return SKIP;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) {
        printf("skip: KVM_CREATE_VM failed: %s\n", strerror(errno));
        close(kvm);
        return SKIP;
    }
    close(vm);
    close(kvm);
    return 0;
}
