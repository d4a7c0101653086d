// The seccomp filter of the sandboxed tiers, as classic BPF built here (no libseccomp, no compiler):
// bwrap loads it with `--seccomp FD` (tier kernel), the launcher with `-s FD` (tier process).
// It is a denylist on top of the namespaces: the syscalls a job never needs and that are the usual
// kernel attack surface or a way out (ptrace, mounts, new namespaces, keyrings, BPF, modules…).

import { endianness } from 'node:os';

type Arch = {
  audit: number;
  /** x86_64 also accepts x32 syscalls (nr | 0x40000000): refused wholesale. */
  x32Bit: boolean;
  nr: Record<DeniedSyscall | 'clone' | 'clone3' | 'socket', number>;
};

const DENIED = [
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'swapon',
  'swapoff',
  'reboot',
  'sethostname',
  'setdomainname',
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'kexec_file_load',
  'quotactl',
  'quotactl_fd',
  'acct',
  'settimeofday',
  'adjtimex',
  'clock_settime',
  'clock_adjtime',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'setns',
  'unshare',
  'open_by_handle_at',
  'name_to_handle_at',
  'lookup_dcookie',
  'syslog',
  'vhangup',
  'fanotify_init',
  // io_uring runs socket/file operations that seccomp never sees.
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
] as const;
type DeniedSyscall = (typeof DENIED)[number];

// From <asm/unistd_64.h> (x86_64) and <asm-generic/unistd.h> (aarch64).
const X86_64: Arch = {
  audit: 0xc000003e,
  x32Bit: true,
  nr: {
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    mount: 165,
    umount2: 166,
    pivot_root: 155,
    chroot: 161,
    open_tree: 428,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    swapon: 167,
    swapoff: 168,
    reboot: 169,
    sethostname: 170,
    setdomainname: 171,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    kexec_load: 246,
    kexec_file_load: 320,
    quotactl: 179,
    quotactl_fd: 443,
    acct: 163,
    settimeofday: 164,
    adjtimex: 159,
    clock_settime: 227,
    clock_adjtime: 305,
    keyctl: 250,
    add_key: 248,
    request_key: 249,
    bpf: 321,
    perf_event_open: 298,
    userfaultfd: 323,
    setns: 308,
    unshare: 272,
    open_by_handle_at: 304,
    name_to_handle_at: 303,
    lookup_dcookie: 212,
    syslog: 103,
    vhangup: 153,
    fanotify_init: 300,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    clone: 56,
    clone3: 435,
    socket: 41,
  },
};

const AARCH64: Arch = {
  audit: 0xc00000b7,
  x32Bit: false,
  nr: {
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    mount: 40,
    umount2: 39,
    pivot_root: 41,
    chroot: 51,
    open_tree: 428,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    mount_setattr: 442,
    swapon: 224,
    swapoff: 225,
    reboot: 142,
    sethostname: 161,
    setdomainname: 162,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    kexec_load: 104,
    kexec_file_load: 294,
    quotactl: 60,
    quotactl_fd: 443,
    acct: 89,
    settimeofday: 170,
    adjtimex: 171,
    clock_settime: 112,
    clock_adjtime: 266,
    keyctl: 219,
    add_key: 217,
    request_key: 218,
    bpf: 280,
    perf_event_open: 241,
    userfaultfd: 282,
    setns: 268,
    unshare: 97,
    open_by_handle_at: 265,
    name_to_handle_at: 264,
    lookup_dcookie: 18,
    syslog: 116,
    vhangup: 58,
    fanotify_init: 262,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    clone: 220,
    clone3: 435,
    socket: 198,
  },
};

const ARCHES: Partial<Record<NodeJS.Architecture, Arch>> = { x64: X86_64, arm64: AARCH64 };

/** Whether this CPU architecture has a filter (elsewhere the tiers that need one are unavailable). */
export function seccompSupported(arch: NodeJS.Architecture = process.arch): boolean {
  return ARCHES[arch] !== undefined;
}

// Classic BPF opcodes and seccomp return values (<linux/filter.h>, <linux/seccomp.h>).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const AND_K = 0x54;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (errno: number) => 0x00050000 | errno;
const EPERM = 1;
const EAFNOSUPPORT = 97;
const ENOSYS = 38;

// struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
const OFF_NR = 0;
const OFF_ARCH = 4;
/** Offset of the low 32 bits of argument `i` (the high half follows on little-endian). */
const argLow = (i: number) => 16 + 8 * i + (endianness() === 'LE' ? 0 : 4);

// clone(2) flags that create namespaces.
const CLONE_NEW_ANY =
  0x00000080 | // CLONE_NEWTIME
  0x00020000 | // CLONE_NEWNS
  0x02000000 | // CLONE_NEWCGROUP
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000; // CLONE_NEWNET

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;

type Insn = [code: number, jt: number, jf: number, k: number];

export type SeccompOptions = {
  /**
   * The job shares the host's network namespace (it has network grants): only AF_UNIX sockets and
   * TCP (AF_INET/AF_INET6 stream) sockets may be created. No UDP (no DNS to anywhere, no UDP
   * exfiltration), no netlink, no raw or packet sockets. Landlock then filters the TCP ports.
   */
  sharedNetwork: boolean;
};

/** The filter program for `arch`: an array of 8-byte `struct sock_filter` (what bwrap reads). */
export function seccompProgram(options: SeccompOptions, arch: NodeJS.Architecture = process.arch): Buffer {
  const a = ARCHES[arch];
  if (!a) throw new Error(`no seccomp filter for architecture ${arch}`);
  const p: Insn[] = [];
  const ret = (k: number) => p.push([RET_K, 0, 0, k]);
  // A foreign architecture's syscall numbers mean other syscalls: kill.
  p.push([LD_W_ABS, 0, 0, OFF_ARCH]);
  p.push([JEQ_K, 1, 0, a.audit]);
  ret(RET_KILL_PROCESS);
  p.push([LD_W_ABS, 0, 0, OFF_NR]);
  if (a.x32Bit) {
    p.push([JGE_K, 0, 1, 0x40000000]);
    ret(retErrno(EPERM));
  }
  for (const name of DENIED) {
    p.push([JEQ_K, 0, 1, a.nr[name]]);
    ret(retErrno(EPERM));
  }
  // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
  p.push([JEQ_K, 0, 1, a.nr.clone3]);
  ret(retErrno(ENOSYS));
  // clone with any CLONE_NEW* flag (a new user namespace first of all) is refused.
  p.push([JEQ_K, 0, 4, a.nr.clone]);
  p.push([LD_W_ABS, 0, 0, argLow(0)]);
  p.push([JSET_K, 0, 1, CLONE_NEW_ANY]);
  ret(retErrno(EPERM));
  ret(RET_ALLOW);
  if (options.sharedNetwork) {
    // socket(domain, type, protocol): AF_UNIX any type; AF_INET/AF_INET6 only SOCK_STREAM.
    p.push([JEQ_K, 0, 9, a.nr.socket]);
    p.push([LD_W_ABS, 0, 0, argLow(0)]);
    p.push([JEQ_K, 6, 0, AF_UNIX]);
    p.push([JEQ_K, 1, 0, AF_INET]);
    p.push([JEQ_K, 0, 3, AF_INET6]);
    p.push([LD_W_ABS, 0, 0, argLow(1)]);
    p.push([AND_K, 0, 0, 0xf]);
    p.push([JEQ_K, 1, 0, SOCK_STREAM]);
    ret(retErrno(EAFNOSUPPORT));
    ret(RET_ALLOW);
  }
  ret(RET_ALLOW);
  const buf = Buffer.alloc(p.length * 8);
  const le = endianness() === 'LE';
  p.forEach(([code, jt, jf, k], i) => {
    if (le) buf.writeUInt16LE(code, i * 8);
    else buf.writeUInt16BE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    if (le) buf.writeUInt32LE(k >>> 0, i * 8 + 4);
    else buf.writeUInt32BE(k >>> 0, i * 8 + 4);
  });
  return buf;
}
