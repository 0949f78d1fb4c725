/** TRUSTED_NETWORKS as a node:net BlockList: addresses inside bypass the per-IP limits and lockout. */
import { BlockList, isIPv4 } from 'node:net';

export function createTrustedNetworks(cidrs: readonly string[]): (ip: string) => boolean {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', prefix] = cidr.split('/');
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (ip: string) => {
    // IPv4 clients on a dual-stack socket appear as ::ffff:a.b.c.d
    const plain = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
  };
}
