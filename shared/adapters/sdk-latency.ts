/**
 * Times every call of an AWS SDK v3 client (retries included), by command: `DescribeInstances`,
 * `CompleteLifecycleAction`... A middleware at the `initialize` step sees the whole call.
 */
export function measureSdkCalls<C>(client: C, record: (operation: string, ms: number) => void): C {
  const stack = (client as { middlewareStack?: { add: (mw: unknown, options: unknown) => void } })
    .middlewareStack;
  stack?.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: unknown) => {
        const started = performance.now();
        try {
          return await next(args);
        } finally {
          record((context.commandName ?? 'Unknown').replace(/Command$/, ''), performance.now() - started);
        }
      },
    { step: 'initialize', name: 'istioVmRegistrarLatency', override: true },
  );
  return client;
}
