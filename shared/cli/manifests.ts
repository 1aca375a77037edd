import { EXIT } from './exit.ts';

export async function printRbac(_namespaces?: string[], _group?: string): Promise<number> {
  process.stderr.write('not yet\n');
  return EXIT.errors;
}
export async function printGateway(_network: string, _multi: boolean, _ns?: string): Promise<number> {
  process.stderr.write('not yet\n');
  return EXIT.errors;
}
