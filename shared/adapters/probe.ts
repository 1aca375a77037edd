import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { ProbeSpec } from '../domain/lifecycle.ts';

export interface ProbeOutcome {
  readonly passed: boolean;
  /** What was seen, for logs: `GET http://10.0.7.5:8080/ready answered 200`, `connection refused`. */
  readonly reason: string;
}

/**
 * Runs a WorkloadGroup's readiness probe against a VM's address, once, as the kubelet would:
 * `httpGet` passes on a status of 200-399 (redirects are not followed; HTTPS certificates are not
 * checked, as the kubelet does not check them), `tcpSocket` when the connection opens. The probe's
 * `host` is not used: the VM's private address from EC2 is what is probed.
 * https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
 */
export class ReadinessProber {
  async probe(address: string, probe: ProbeSpec, signal?: AbortSignal): Promise<ProbeOutcome> {
    const timeout = AbortSignal.timeout(probe.timeoutSeconds * 1000);
    const cancel = signal ? AbortSignal.any([signal, timeout]) : timeout;
    return probe.kind === 'tcp' ? tcp(address, probe.port, cancel) : http(address, probe, cancel);
  }
}

const hostOf = (address: string) => (address.includes(':') ? `[${address}]` : address);

function http(address: string, probe: ProbeSpec, signal: AbortSignal): Promise<ProbeOutcome> {
  const url = `${probe.scheme.toLowerCase()}://${hostOf(address)}:${probe.port}${probe.path}`;
  const what = `GET ${url}`;
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'istio-vm-registrar-probe', accept: '*/*' };
    for (const h of probe.headers) headers[h.name.toLowerCase()] = h.value;
    const options = {
      method: 'GET',
      headers,
      signal,
      ...(probe.scheme === 'HTTPS' ? { rejectUnauthorized: false } : {}),
    };
    const req = (probe.scheme === 'HTTPS' ? httpsRequest : httpRequest)(url, options, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      resolve({ passed: status >= 200 && status < 400, reason: `${what} answered ${status}` });
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ passed: false, reason: `${what} failed: ${describe(error, signal)}` }),
    );
    req.end();
  });
}

function tcp(address: string, port: number, signal: AbortSignal): Promise<ProbeOutcome> {
  const what = `TCP ${hostOf(address)}:${port}`;
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ passed: true, reason: `${what} accepted the connection` });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ passed: false, reason: `${what} failed: ${describe(error, signal)}` });
    });
  });
}

function describe(error: NodeJS.ErrnoException, signal: AbortSignal): string {
  if (signal.aborted) return 'timed out';
  if (error.code === 'ECONNREFUSED') return 'connection refused';
  return error.code ? `${error.code} ${error.message}` : error.message;
}
