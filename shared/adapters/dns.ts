import { lookup } from 'node:dns/promises';

/** Resolves a name to its IPv4 addresses. */
export type Ipv4Resolver = (name: string) => Promise<string[]>;

/**
 * The addresses the operating system's resolver gives for `name` (getaddrinfo, as the VM's `getent`
 * does), sorted and without duplicates. An NLB's or interface endpoint's DNS name answers with one
 * address per zone.
 */
export const resolveIpv4: Ipv4Resolver = async (name) => {
  const answers = await lookup(name, { all: true, family: 4 });
  return [...new Set(answers.map((answer) => answer.address))].sort();
};
