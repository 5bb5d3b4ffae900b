#ifndef TUOYU_CLIBPQ_SHIM_H
#define TUOYU_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

// epoll for the Postgres reactor: Swift cannot build an epoll_event (a packed struct with a union)
// portably, so the three calls it needs are wrapped here.

/// Arms a one-shot wait for `fd` to be readable (or either, when `writable`: libpq asks to read
/// while a flush waits): re-arms it when `registered` (falling back to adding it), else adds it.
/// Returns 0, or an errno value.
static inline int tuoyu_epoll_arm(int epfd, int fd, int writable, int registered) {
  struct epoll_event ev;
  ev.events = (writable ? (EPOLLOUT | EPOLLIN) : EPOLLIN) | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = (uint64_t)(uint32_t)fd;
  if (registered) {
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno != ENOENT) return errno;
  }
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
  if (errno == EEXIST && epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
  return errno;
}

/// Removes `fd` from the set (ignoring a descriptor that is not in it).
static inline void tuoyu_epoll_remove(int epfd, int fd) {
  struct epoll_event ev;
  ev.events = 0;
  ev.data.u64 = 0;
  (void)epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev);
}

/// Waits for up to `capacity` ready descriptors; writes them to `fds`. Returns how many, or -1.
static inline int tuoyu_epoll_wait(int epfd, int *fds, int capacity, int timeout_ms) {
  struct epoll_event events[64];
  if (capacity > 64) capacity = 64;
  int n = epoll_wait(epfd, events, capacity, timeout_ms);
  for (int i = 0; i < n; i++) fds[i] = (int)(uint32_t)events[i].data.u64;
  return n;
}
#endif
