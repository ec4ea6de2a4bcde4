/*
 * The watchdog device: the plugin loaded through the loader, created for this VM, with the
 * callbacks that turn its events into output lines and vCPU requests.
 */
#ifndef VMM_WATCHDOG_H
#define VMM_WATCHDOG_H

#include "vmm.h"

/* Loads the plugin and creates the device (vm->plugin, vm->dev); 0 or VMM_EXIT_ERROR. */
int vmm_watchdog_open(struct vmm *vm);

#endif /* VMM_WATCHDOG_H */
