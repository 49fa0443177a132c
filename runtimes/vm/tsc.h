/* The host's TSC rate, for microvm under TCG (docs/RUNTIME-VM.md "Machine").
 * A TCG guest reads the host's own TSC (qemu's cpu_get_host_ticks), and
 * microvm has no HPET or ACPI PM timer: the guest kernel can calibrate the
 * TSC only against the PIT, which under a loaded TCG host fails ("tsc:
 * Unable to calibrate against PIT ... Marking TSC unstable") and the boot
 * then hangs. The guest gets tsc_early_khz=<this> instead. */
#ifndef ORCH_VM_TSC_H
#define ORCH_VM_TSC_H

/* kHz, measured against CLOCK_MONOTONIC_RAW over ~100 ms (blocks: a
 * worker thread's call); 0 when the host has no constant, non-stop TSC
 * (/proc/cpuinfo flags) or is not x86-64, with *why saying so. */
unsigned long vm_host_tsc_khz(const char **why);

#endif
