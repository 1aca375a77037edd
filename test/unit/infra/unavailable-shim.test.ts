import { describe, expect, it } from 'vitest';
import tar, {
  discovery,
  HttpsProxyAgent,
  JSONPath,
  SocksClient,
  SocksProxyAgent,
} from '../../../infra/shims/unavailable.ts';

describe('Shim: client-node features left out of the Lambda bundle', () => {
  it('fails loudly, naming the feature, whenever one is used', () => {
    expect(() => new SocksProxyAgent()).toThrow(
      /SocksProxyAgent \(kubeconfig proxy\) is not available in the Lambda bundle/,
    );
    expect(() => new HttpsProxyAgent()).toThrow(/HttpsProxyAgent/);
    expect(() => SocksClient.createConnection()).toThrow(/SOCKS proxy/);
    expect(() => JSONPath()).toThrow(/Azure\/GCP kubeconfig auth/);
    expect(() => discovery()).toThrow(/OIDC kubeconfig auth/);
    expect(() => (tar as { pack: unknown }).pack).toThrow(/websocket\/tar/);
  });
});
