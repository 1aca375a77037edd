#!/usr/bin/env node
/**
 * vm-registrar: the registrar's code paths from a workstation. `vm-registrar --help` and
 * `vm-registrar <command> --help` describe every command and flag.
 *
 * Exit codes: 0 converged or applied, 1 errors, 2 refused by a safety stop, 64 usage.
 *
 * Parsing is commander's rather than a hand-written dispatcher over node:util parseArgs: it gives
 * per-command help, rejects unknown flags, excess arguments and bad choices with one clear line,
 * and `exitOverride` lets every usage error map to exit 64. It has no dependencies of its own and
 * is small next to what the functions bundle (the Lambda bundles never import this file).
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT } from './exit.ts';

// The CLI talks to people: quiet JSON logs and no EMF metric blobs unless asked for. Set before any
// command module is imported: Powertools reads them when its singletons are built.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
// --verbose wins over an inherited level: it is what the user just asked for.
if (process.argv.includes('--verbose')) process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
else process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

type Output = 'table' | 'json';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const outputOption = () =>
  new Option('--output <format>', 'output format').choices(['table', 'json']).default('table');

/** Builds the command tree; `run` receives each command's exit code. */
function buildProgram(run: (code: Promise<number>) => void): Command {
  const program = new Command('vm-registrar')
    .description(
      'Keeps Istio WorkloadEntries in step with EC2 from a workstation. Configuration comes from ' +
        'the environment (ALLOWED_NAMESPACES, KUBECONFIG or CLUSTER_NAME, AWS_REGION, ...); see ' +
        'README.md. Exit codes: 0 converged or applied, 1 errors, 2 refused by a safety stop, 64 usage.',
    )
    .option('--verbose', 'debug logs (JSON, on stderr)')
    .showHelpAfterError('(see vm-registrar --help, or vm-registrar <command> --help)')
    .exitOverride();

  program
    .command('demo')
    .description('the whole flow against local stand-ins, end to end (npm start)')
    .action(() => run(import('./demo.ts').then((m) => m.runDemo())));

  program
    .command('sandbox')
    .description(
      'start the local stand-ins with a sample fleet and print the environment that points the ' +
        'other commands at them; runs until Ctrl-C',
    )
    .action(() => run(import('./sandbox.ts').then((m) => m.runSandbox())));

  program
    .command('replay')
    .description("send event files through the registrar, print each record's decision, then the entries")
    .argument('<event-file...>', 'EventBridge events, SQS bodies, Lambda SQS/SNS events, notifications')
    .option('--dry-run', 'decide and print, write nothing')
    .addOption(outputOption())
    .action((files: string[], opts: { dryRun?: boolean; output: Output }) =>
      run(
        import('./replay.ts').then((m) =>
          m.runReplay(files, {
            dryRun: opts.dryRun === true,
            output: opts.output,
            verbose: program.opts().verbose === true,
          }),
        ),
      ),
    );

  program
    .command('reconcile')
    .description('converge the fleet: create, update and delete entries to match EC2')
    .option('--dry-run', 'show the plan, write nothing')
    .option('--force', 'apply deletions past the safety cap (never past an incomplete listing)')
    .option('--namespace <ns>', 'only this namespace (repeatable)', collect)
    .option('--group <ns/name>', 'only this WorkloadGroup (repeatable)', collect)
    .option('--summary', 'print totals only, not every change')
    .addOption(outputOption())
    .action(
      (opts: {
        dryRun?: boolean;
        force?: boolean;
        namespace?: string[];
        group?: string[];
        summary?: boolean;
        output: Output;
      }) =>
        run(
          import('./reconcile.ts').then((m) =>
            m.runReconcile(
              {
                dryRun: opts.dryRun === true,
                force: opts.force === true,
                ...(opts.namespace ? { namespaces: opts.namespace } : {}),
                ...(opts.group ? { groups: opts.group } : {}),
              },
              { output: opts.output, summaryOnly: opts.summary === true },
            ),
          ),
        ),
    );

  program
    .command('status')
    .description('groups, instances and entries side by side, and what is out of step')
    .option('--namespace <ns>', 'only this namespace (repeatable)', collect)
    .addOption(outputOption())
    .action((opts: { namespace?: string[]; output: Output }) =>
      run(import('./reconcile.ts').then((m) => m.runStatus(opts.namespace ?? [], opts.output))),
    );

  program
    .command('rbac')
    .description('print the RBAC the registrar needs, as YAML for kubectl apply -f -')
    .option(
      '--namespace <ns>',
      'a namespace the registrar writes into (repeatable; default ALLOWED_NAMESPACES)',
      collect,
    )
    .option('--group <name>', "Kubernetes group of the functions' roles", 'istio-vm-registrar')
    .action((opts: { namespace?: string[]; group: string }) =>
      run(import('./manifests.ts').then((m) => m.printRbac(opts.namespace ?? [], opts.group))),
    );

  const manifests = program
    .command('manifests')
    .description('print cluster manifests, as YAML for kubectl apply -f -');
  manifests
    .command('gateway')
    .description('the east-west gateway Service, Gateways and one TargetGroupBinding per --target-group')
    .option('--network <name>', "the cluster's Istio network (required with --multi-network)")
    .option('--multi-network', 'also expose 15443 for cross-network mTLS')
    .option('--namespace <ns>', 'namespace of the gateway', 'istio-system')
    .option(
      '--target-group <port=arn>',
      "target group of a gateway port, from the gateway stack's outputs (repeatable)",
      collect,
    )
    .action((opts: { network?: string; multiNetwork?: boolean; namespace: string; targetGroup?: string[] }) =>
      run(
        import('./manifests.ts').then((m) =>
          m.printGateway({
            ...(opts.network !== undefined ? { network: opts.network } : {}),
            multiNetwork: opts.multiNetwork === true,
            namespace: opts.namespace,
            targetGroups: opts.targetGroup ?? [],
          }),
        ),
      ),
    );

  const bootstrap = program
    .command('bootstrap')
    .description('VM bootstrap: user-data, RBAC, and a refresh of the bundles and tokens in SSM');
  bootstrap
    .command('user-data')
    .description("print the cloud-init user-data of a WorkloadGroup's VMs")
    .requiredOption('--group <ns/name>', 'the WorkloadGroup the VMs join')
    .option('--parameter-prefix <path>', 'SSM path of the bundles (BOOTSTRAP_PARAMETER_PREFIX)')
    .option(
      '--refresh-interval <span>',
      'how often VMs re-fetch token and configuration (systemd time span)',
      '30min',
    )
    .action((opts: { group: string; parameterPrefix?: string; refreshInterval: string }) =>
      run(
        import('./bootstrap.ts').then((m) =>
          m.printUserData({
            group: opts.group,
            refreshInterval: opts.refreshInterval,
            ...(opts.parameterPrefix ? { parameterPrefix: opts.parameterPrefix } : {}),
          }),
        ),
      ),
    );
  bootstrap
    .command('rbac')
    .description(
      "print the RBAC the bootstrap function's Kubernetes group needs, as YAML for kubectl apply -f -",
    )
    .option(
      '--group <ns/name[:sa]>',
      'an opted-in group and its service account (repeatable; default BOOTSTRAP_GROUPS)',
      collect,
    )
    .option('--control-plane-namespace <ns>', "istiod's namespace (the istio ConfigMap)", 'istio-system')
    .option(
      '--kubernetes-group <name>',
      "Kubernetes group of the function's role",
      'istio-vm-registrar-bootstrap',
    )
    .action((opts: { group?: string[]; controlPlaneNamespace: string; kubernetesGroup: string }) =>
      run(
        import('./bootstrap.ts').then((m) =>
          m.printBootstrapRbac({
            groups: opts.group ?? [],
            controlPlaneNamespace: opts.controlPlaneNamespace,
            kubernetesGroup: opts.kubernetesGroup,
          }),
        ),
      ),
    );
  bootstrap
    .command('refresh')
    .description('render bundles and mint due tokens into SSM now, as the scheduled function does')
    .option('--group <ns/name>', 'only this opted-in group (repeatable)', collect)
    .addOption(outputOption())
    .action((opts: { group?: string[]; output: Output }) =>
      run(
        import('./bootstrap.ts').then((m) =>
          m.runBootstrapRefresh({ groups: opts.group ?? [], output: opts.output }),
        ),
      ),
    );

  return program;
}

/** Parses argv and runs the command; resolves with the process exit code. */
async function main(argv: readonly string[]): Promise<number> {
  let pending: Promise<number> | undefined;
  const program = buildProgram((code) => {
    pending = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    // Help asked for exits 0; every other parse error (commander has printed it) is a usage error.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
  return pending ? await pending : EXIT.ok;
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
