#!/usr/bin/env node
/**
 * vm-registrar: the registrar's code paths from a workstation.
 *
 *   vm-registrar demo                         stand-ins + sample fleet, end to end (npm start)
 *   vm-registrar replay <event.json...>       feed events through the registrar Lambda's handler
 *   vm-registrar reconcile [--dry-run] [--namespace NS]... [--group NS/NAME]... [--output table|json] [--force]
 *   vm-registrar status [--namespace NS]... [--output table|json]
 *   vm-registrar rbac [--namespace NS]... [--group NAME]
 *   vm-registrar manifests gateway --network NAME [--multi-network] [--namespace NS] [--target-group PORT=ARN]...
 *
 * Exit codes: 0 converged or applied, 1 errors, 2 refused by a safety stop, 64 usage.
 */
import { parseArgs } from 'node:util';
import { EXIT } from './exit.ts';

// The CLI talks to people: quiet JSON logs and no EMF metric blobs unless asked for.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.POWERTOOLS_LOG_LEVEL ??= process.argv.includes('--verbose') ? 'DEBUG' : 'WARN';

const USAGE = `usage: vm-registrar <command> [options]

commands:
  demo                                   run the whole flow against local stand-ins
  replay <event-file>...                 send events through the registrar handler
  reconcile [--dry-run] [--force]        converge the fleet (--namespace NS, --group NS/NAME, --output table|json)
  status                                 groups, instances and entries side by side
  rbac                                   print the RBAC the registrar needs (--namespace NS, --group NAME)
  manifests gateway --network NAME       print east-west gateway manifests (--multi-network, --namespace NS,
                                         --target-group PORT=ARN from the gateway stack's outputs)

Configuration comes from the environment (ALLOWED_NAMESPACES, KUBECONFIG or CLUSTER_NAME, AWS_REGION, ...);
see README.md.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      namespace: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true },
      output: { type: 'string', default: 'table' },
      network: { type: 'string' },
      'multi-network': { type: 'boolean', default: false },
      'target-group': { type: 'string', multiple: true },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (values.output !== 'table' && values.output !== 'json') {
    process.stderr.write('--output must be table or json\n');
    return EXIT.usage;
  }
  const output = values.output;
  switch (command) {
    case 'demo':
      return (await import('./demo.ts')).runDemo();
    case 'replay':
      if (rest.length === 0) {
        process.stderr.write('replay needs at least one event file\n');
        return EXIT.usage;
      }
      return (await import('./replay.ts')).runReplay(rest, output);
    case 'reconcile':
      return (await import('./reconcile.ts')).runReconcile(
        {
          dryRun: values['dry-run'],
          force: values.force,
          ...(values.namespace ? { namespaces: values.namespace } : {}),
          ...(values.group ? { groups: values.group } : {}),
        },
        output,
      );
    case 'status':
      return (await import('./reconcile.ts')).runStatus(values.namespace ?? [], output);
    case 'rbac':
      return (await import('./manifests.ts')).printRbac(values.namespace, values.group?.[0]);
    case 'manifests':
      if (rest[0] !== 'gateway' || !values.network) {
        process.stderr.write('usage: vm-registrar manifests gateway --network NAME [--multi-network]\n');
        return EXIT.usage;
      }
      return (await import('./manifests.ts')).printGateway(
        values.network,
        values['multi-network'],
        values.namespace?.[0],
      );
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
      return EXIT.usage;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`vm-registrar: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.errors;
  },
);
