// Scheduling calls for RPC's idle spinner (IdleSpinner.swift). Swift's Glibc module is built
// without _GNU_SOURCE, so glibc's GNU-only functions are declared here under names of our own.
#include <stddef.h>
#include <sched.h>
#include <pthread.h>

extern int tuoyu_sched_getcpu(void) __asm__("sched_getcpu");
extern int tuoyu_sched_setaffinity(int pid, size_t size, const unsigned long *mask) __asm__("sched_setaffinity");
extern int tuoyu_pthread_setname_np(pthread_t thread, const char *name) __asm__("pthread_setname_np");
extern int tuoyu_gettid(void) __asm__("gettid");

/// Pins the calling thread to `cpu` (0..1023); -1 with errno when the kernel refuses.
static inline int tuoyu_pin_to_cpu(int cpu) {
  enum { BITS = 8 * sizeof(unsigned long) };
  unsigned long mask[1024 / BITS] = {0};
  if (cpu < 0 || cpu >= 1024) return -1;
  mask[cpu / BITS] |= 1UL << (cpu % BITS);
  return tuoyu_sched_setaffinity(0, sizeof mask, mask);
}

/// Moves the calling thread to SCHED_IDLE (Linux's policy 5): it runs only when nothing else on
/// its CPU wants to. Lowering one's own policy needs no privilege.
static inline int tuoyu_sched_idle(void) {
  struct sched_param p = {0};
  return sched_setscheduler(0, 5, &p);
}
