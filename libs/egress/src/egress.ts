import { type CidrNetwork } from '@axle/config';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch, type RequestInit, type Response } from 'undici';

/** Where outbound calls to user-given URLs may go (AXLE_EGRESS_*; docs/operations.md "Egress"). */
export type EgressPolicy = {
  /** Reach private, loopback, link-local and other non-public addresses (development and tests). */
  allowPrivate: boolean;
  /** Non-public networks reachable anyway (an in-cluster agent's service range). */
  allowedCidrs: readonly CidrNetwork[];
};

export type EgressResponse = Response;

/** A call refused because its host is, or resolves to, an address the egress policy keeps out. */
export class EgressRefusedError extends Error {
  readonly code = 'egress_refused';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(
      `${host === address ? address : `${host} resolves to ${address}, which`} is not a public address; Axle does not call it (AXLE_EGRESS_ALLOW_PRIVATE, AXLE_EGRESS_ALLOWED_CIDRS)`,
    );
    this.name = 'EgressRefusedError';
  }
}

/** Not the public internet: RFC 6890 special-purpose ranges, cloud metadata among them. */
const NON_PUBLIC: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

/**
 * Outbound HTTP to URLs users gave Axle (agent callbacks, webhooks, notification steps, MCP servers).
 * The address is checked when the connection is made, after DNS, and the connection goes to the
 * address checked: a name that resolves to a private address, a redirect to one, or a DNS answer
 * that changes between a check and the connect (rebinding) cannot reach inside the network.
 */
export class Egress {
  private readonly blocked = new BlockList();
  private readonly allowed = new BlockList();
  private readonly dispatcher: Agent;

  constructor(private readonly policy: EgressPolicy) {
    for (const [network, prefix, family] of NON_PUBLIC) this.blocked.addSubnet(network, prefix, family);
    for (const { network, prefix, family } of policy.allowedCidrs)
      this.allowed.addSubnet(network, prefix, family);
    const connect = buildConnector({ lookup: this.lookup });
    this.dispatcher = new Agent({
      connect: (options, callback) => {
        // An address in the URL is connected to without a lookup.
        const host = options.hostname.replace(/^\[|\]$/g, '');
        if (isIP(host) && this.refuses(host)) return callback(new EgressRefusedError(host, host), null);
        connect(options, callback);
      },
    });
  }

  /** Whether a call to this address is refused. */
  refuses(address: string): boolean {
    if (this.policy.allowPrivate) return false;
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    return this.blocked.check(address, family) && !this.allowed.check(address, family);
  }

  /** `fetch` through the checked connections. A refusal rejects like a network error, with the reason as its cause. */
  fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    return undiciFetch(url, { ...init, dispatcher: this.dispatcher });
  }

  /** The refusal behind a failed `fetch`, if that is why it failed. */
  static refusalOf(err: unknown): EgressRefusedError | null {
    for (let e = err; e instanceof Error; e = e.cause) if (e instanceof EgressRefusedError) return e;
    return null;
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  /** dns.lookup that fails when any address of the name is refused, so the connect never sees one. */
  private readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const refused = addresses.find((a) => this.refuses(a.address));
      if (refused) return callback(new EgressRefusedError(hostname, refused.address), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const [first] = addresses;
      if (!first)
        return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
