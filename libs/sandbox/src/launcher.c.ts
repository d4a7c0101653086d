// Source of the launcher: a tiny C program (compiled with gcc on first use, see launcher.ts) that
// applies Landlock (filesystem allowlist, TCP bind/connect port rules, scopes) and optionally a
// seccomp filter read from a file descriptor, then execs the job. `-v` prints the Landlock ABI.
//
//   launch [-r PATH]... [-w PATH]... [-N] [-c PORT]... [-A] [-s FD] -- argv...
//   -r read-only (+exec) beneath PATH   -w read-write beneath PATH
//   -N handle TCP: no bind at all, connect only to -c ports (or to any port with -A)
//   -s FD load the seccomp program (struct sock_filter[]) read from FD
//   -I    be a minimal init (the process tier's pid 1): run the job as a child, reap orphans, exit
//         with the job's code or 128+signal when the job is killed (pid 1 itself cannot be)
//
// Any failure exits 126 before the job runs: the job never runs with less confinement than asked.

export const LAUNCHER_SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct ll_ruleset_attr { uint64_t fs; uint64_t net; uint64_t scoped; };
struct ll_path_attr { uint64_t allowed; int32_t parent_fd; } __attribute__((packed));
struct ll_port_attr { uint64_t allowed; uint64_t port; };

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_TRUNCATE (1ULL << 14)
#define FS_IOCTL_DEV (1ULL << 15)
#define NET_BIND_TCP 1ULL
#define NET_CONNECT_TCP 2ULL
#define SCOPE_ABSTRACT_UNIX 1ULL
#define SCOPE_SIGNAL 2ULL

static void die(const char *what, const char *arg) {
  fprintf(stderr, "axle-sandbox: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  _exit(126);
}

static uint64_t fs_rights(int abi) {
  uint64_t r = (1ULL << 13) - 1; /* ABI 1: bits 0..12 */
  if (abi >= 2) r |= 1ULL << 13;  /* REFER */
  if (abi >= 3) r |= FS_TRUNCATE;
  if (abi >= 5) r |= FS_IOCTL_DEV;
  return r;
}

#define MAX_RULES 256
static const char *ro[MAX_RULES], *rw[MAX_RULES];
static long ports[MAX_RULES];

int main(int argc, char **argv) {
  int abi = (int)syscall(__NR_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
  int nro = 0, nrw = 0, nports = 0, handle_net = 0, any_port = 0, seccomp_fd = -1, init = 0, i = 1;
  if (argc == 2 && strcmp(argv[1], "-v") == 0) {
    printf("%d\n", abi < 0 ? 0 : abi);
    return 0;
  }
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *o = argv[i];
    if (i + 1 >= argc && strcmp(o, "-N") && strcmp(o, "-A") && strcmp(o, "-I")) { errno = EINVAL; die("missing value for", o); }
    if (!strcmp(o, "-r") && nro < MAX_RULES) ro[nro++] = argv[++i];
    else if (!strcmp(o, "-w") && nrw < MAX_RULES) rw[nrw++] = argv[++i];
    else if (!strcmp(o, "-c") && nports < MAX_RULES) ports[nports++] = strtol(argv[++i], NULL, 10);
    else if (!strcmp(o, "-s")) seccomp_fd = atoi(argv[++i]);
    else if (!strcmp(o, "-N")) handle_net = 1;
    else if (!strcmp(o, "-A")) any_port = 1;
    else if (!strcmp(o, "-I")) init = 1;
    else { errno = EINVAL; die("bad option", o); }
  }
  if (i + 1 >= argc) { errno = EINVAL; die("no command", NULL); }
  char **cmd = argv + i + 1;

  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs", NULL);
  if (nro || nrw || handle_net) {
    if (abi < 1) { errno = ENOSYS; die("landlock", NULL); }
    if (handle_net && abi < 4) { errno = ENOSYS; die("landlock TCP rules need ABI 4", NULL); }
    struct ll_ruleset_attr attr = { fs_rights(abi), 0, 0 };
    if (handle_net) attr.net = NET_BIND_TCP | (any_port ? 0 : NET_CONNECT_TCP);
    if (abi >= 6) attr.scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL;
    size_t size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
    int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) die("landlock_create_ruleset", NULL);
    for (int k = 0; k < nro + nrw; k++) {
      const char *path = k < nro ? ro[k] : rw[k - nro];
      int fd = open(path, O_PATH | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT) continue; /* a granted path that does not exist: nothing to allow */
        die("open", path);
      }
      struct stat st;
      if (fstat(fd, &st)) die("stat", path);
      uint64_t allowed = k < nro ? (FS_EXECUTE | FS_READ_FILE | FS_READ_DIR) : attr.fs;
      if (!S_ISDIR(st.st_mode))
        allowed &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV;
      allowed &= attr.fs;
      struct ll_path_attr pa = { allowed, fd };
      if (syscall(__NR_landlock_add_rule, rs, 1 /* PATH_BENEATH */, &pa, 0)) die("landlock_add_rule", path);
      close(fd);
    }
    if (handle_net && !any_port)
      for (int k = 0; k < nports; k++) {
        struct ll_port_attr na = { NET_CONNECT_TCP, (uint64_t)ports[k] };
        if (syscall(__NR_landlock_add_rule, rs, 2 /* NET_PORT */, &na, 0)) die("landlock_add_rule port", NULL);
      }
    if (syscall(__NR_landlock_restrict_self, rs, 0)) die("landlock_restrict_self", NULL);
    close(rs);
  }
  if (seccomp_fd >= 0) {
    static struct sock_filter prog[4096];
    size_t got = 0;
    for (;;) {
      ssize_t n = read(seccomp_fd, (char *)prog + got, sizeof prog - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die("read seccomp program", NULL);
      if (n == 0) break;
      got += (size_t)n;
    }
    close(seccomp_fd);
    if (got == 0 || got % sizeof(struct sock_filter)) { errno = EINVAL; die("seccomp program", NULL); }
    struct sock_fprog fprog = { (unsigned short)(got / sizeof(struct sock_filter)), prog };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0)) die("seccomp", NULL);
  }
  if (init) {
    pid_t child = fork();
    if (child < 0) die("fork", NULL);
    if (child > 0) {
      int status = 0;
      for (;;) {
        pid_t w = wait(&status);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) _exit(126);
        if (w == child) break;
      }
      _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
  execvp(cmd[0], cmd);
  die("exec", cmd[0]);
  return 126;
}
`;
