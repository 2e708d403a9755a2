// Which addresses are internal: loopback, private, link-local (cloud metadata services live at
// 169.254.169.254 and fd00:ec2::254), carrier-grade NAT, unspecified. A registry on the internet
// may send the client elsewhere (a blob redirect to a CDN, an upload location on a storage host),
// but never into the network the client runs in: a public registry that could point a request at
// an internal address would turn Hoist into a way to reach what only Hoist can reach (SSRF).
// A registry that is itself internal (its name or address is) may send the client to other
// internal hosts: an in-cluster registry redirecting to in-cluster storage is ordinary.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** The ranges counted as internal when a client names none of its own. */
export const defaultInternalNetworks: readonly string[] = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16',
  '::/128', '::1/128', 'fc00::/7', 'fe80::/10',
];

/** Host names that are internal by name, whatever they resolve to. */
const internalNames = /^(localhost|.*\.localhost|metadata|metadata\.google\.internal)\.?$/i;

export class InternalNetworks {
  readonly #blocks = new BlockList();
  /** The ranges, as one string: equal for equal sets. */
  readonly key: string;

  /** `ranges`: CIDR blocks (`10.0.0.0/8`, `fc00::/7`) or single addresses. */
  constructor(ranges: readonly string[] = defaultInternalNetworks) {
    this.key = [...ranges].sort().join(',');
    for (const range of ranges) {
      const [address = '', bits] = range.split('/');
      const type = isIP(address);
      if (type === 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) throw new RangeError(`not an address range: ${range}`);
      const family = type === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.#blocks.addAddress(address, family);
      else this.#blocks.addSubnet(address, Number(bits), family);
    }
  }

  /** Whether an IP address is internal; an IPv4-mapped IPv6 address counts as its IPv4 one. */
  address(address: string): boolean {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (mapped) return this.#blocks.check(mapped, 'ipv4');
    const type = isIP(address);
    return type !== 0 && this.#blocks.check(address, type === 4 ? 'ipv4' : 'ipv6');
  }

  /** Whether a host (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`) is internal as written, without resolving it. */
  literal(host: string): boolean {
    const name = hostname(host);
    return isIP(name) !== 0 ? this.address(name) : internalNames.test(name);
  }

  /** Whether a host is internal as written or by any address its name resolves to. */
  async resolved(host: string, lookup: Lookup = dnsLookup): Promise<boolean> {
    if (this.literal(host)) return true;
    const name = hostname(host);
    if (isIP(name) !== 0) return false;
    const addresses = await new Promise<LookupAddress[]>((resolve) => {
      lookup(name, { all: true }, (error, found) => resolve(error ? [] : found));
    });
    return addresses.some((a) => this.address(a.address));
  }

  /**
   * A `lookup` for net.connect that drops internal addresses, and fails when none is left: the
   * check happens on the addresses the connection is made to, so a name that resolves to a
   * public address when checked and to an internal one when connecting (DNS rebinding) gains
   * nothing.
   */
  publicLookup(lookup: Lookup = dnsLookup): ConnectLookup {
    return (name, options, callback) => {
      lookup(name, { ...options, all: true }, (error, addresses) => {
        if (error) return callback(error, options.all ? [] : '', 0);
        const allowed = addresses.filter((a) => !this.address(a.address));
        if (allowed.length === 0) {
          const refused = Object.assign(new Error(`${name} resolves only to internal addresses (${addresses.map((a) => a.address).join(', ')})`), { code: internalAddressCode });
          return callback(refused, options.all ? [] : '', 0);
        }
        if (options.all) return callback(null, allowed);
        callback(null, allowed[0]!.address, allowed[0]!.family);
      });
    };
  }
}

/** The error code of a connection refused by publicLookup. */
export const internalAddressCode = 'EHOIST_INTERNAL_ADDRESS';

type Lookup = (hostname: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;
// net.connect calls its lookup with `all: true` (autoSelectFamily, the default) or without.
type ConnectLookup = (hostname: string, options: LookupOneOptions & { all?: boolean }, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => void;

/** The host name of `host:port` or `[v6]:port`, without brackets or port. */
function hostname(host: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) return bracketed[1]!;
  return host.includes(':') && isIP(host) === 0 ? host.slice(0, host.lastIndexOf(':')) : host;
}
