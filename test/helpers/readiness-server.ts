import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nextSequence } from '../standins/sequence.ts';

/**
 * Plays a VM's readiness endpoint for the `probe` launch gate: `GET /ready` answers 200 while ready,
 * 503 otherwise; every probe is recorded in the stand-ins' order (../standins/sequence.ts).
 */
export interface ReadinessServer {
  readonly port: number;
  setReady(ready: boolean): void;
  /** Probes received: their order among the stand-ins' requests, and what was answered. */
  probes(): Array<{ seq: number; path: string; status: number }>;
  close(): Promise<void>;
}

export async function startReadinessServer(): Promise<ReadinessServer> {
  let ready = false;
  const seen: Array<{ seq: number; path: string; status: number }> = [];
  const server: Server = createServer((req, res) => {
    const status = req.url === '/ready' && ready ? 200 : 503;
    seen.push({ seq: nextSequence(), path: req.url ?? '', status });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 ? 'ready\n' : 'not ready\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setReady: (value) => {
      ready = value;
    },
    probes: () => seen.map((p) => ({ ...p })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
