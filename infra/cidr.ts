/**
 * IPv4 CIDR maths for the stack config's cross-checks (infra/config.ts): parse, validate that no host
 * bits are set, and test two subnets for overlap. Pure functions, no Pulumi.
 */

/** The shape of an IPv4 CIDR such as 10.10.0.0/20 (ranges checked by cidrParts). */
export const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** An IPv4 CIDR's base address and prefix length; undefined unless a /8../29 with octets <= 255. */
export function cidrParts(cidr: string): { base: number; bits: number } | undefined {
  const m = CIDR.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits < 8 || bits > 29) return undefined;
  const base = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  return { base, bits };
}

/** A CIDR whose base address has no host bits set (10.10.0.0/20, not 10.10.0.1/20). */
export function validCidr(cidr: string): boolean {
  const p = cidrParts(cidr);
  if (!p) return false;
  const mask = p.bits === 0 ? 0 : (0xffffffff << (32 - p.bits)) >>> 0;
  return (p.base & mask) >>> 0 === p.base;
}

/** Whether two valid CIDRs share an address (one contains the other's base under the shorter prefix). */
export function cidrsOverlap(a: string, b: string): boolean {
  const pa = cidrParts(a)!;
  const pb = cidrParts(b)!;
  const bits = Math.min(pa.bits, pb.bits);
  const mask = (0xffffffff << (32 - bits)) >>> 0;
  return (pa.base & mask) >>> 0 === (pb.base & mask) >>> 0;
}
