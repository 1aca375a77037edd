import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../shared/config/config.ts';

const base = { ALLOWED_NAMESPACES: 'bookinfo', AWS_REGION: 'us-west-2' };

describe('Function: loadConfig() (other accounts and regions, network map)', () => {
  it('reads the home location, the spokes, the member role and the network map', () => {
    // Act
    const config = loadConfig({
      ...base,
      HOME_ACCOUNT_ID: '111111111111',
      SPOKE_ACCOUNT_REGIONS: '222222222222:eu-west-1, 222222222222:us-west-2,333333333333:us-west-2',
      MEMBER_EXTERNAL_ID: 'mesh-external-id',
      NETWORK_MAP: '222222222222=vm-net-a, 222222222222:vpc-0a1b2c3d=vm-net-b',
    });
    // Assess
    expect(config.fleet).toEqual({
      home: { account: '111111111111', region: 'us-west-2' },
      spokes: [
        { account: '222222222222', region: 'eu-west-1' },
        { account: '222222222222', region: 'us-west-2' },
        { account: '333333333333', region: 'us-west-2' },
      ],
    });
    expect(config.memberRole).toEqual({ name: 'istio-vm-registrar-member', externalId: 'mesh-external-id' });
    expect(config.networkMap?.byAccount).toEqual(new Map([['222222222222', 'vm-net-a']]));
    expect(config.networkMap?.byVpc).toEqual(new Map([['222222222222:vpc-0a1b2c3d', 'vm-net-b']]));
  });

  it('is single-account without SPOKE_ACCOUNT_REGIONS: no member role, HOME_ACCOUNT_ID optional', () => {
    const config = loadConfig(base);
    expect(config.fleet).toEqual({ home: { region: 'us-west-2' }, spokes: [] });
    expect(config.memberRole).toBeUndefined();
  });

  it('reports every problem of the multi-account settings at once', () => {
    // Act
    const load = () =>
      loadConfig({
        ...base,
        SPOKE_ACCOUNT_REGIONS:
          '2222:eu-west-1,333333333333:cn-north-1,444444444444:eu-west-1,444444444444:eu-west-1',
        NETWORK_MAP: '444444444444=bad network,555555555555:subnet-1=x',
      });
    // Assess
    expect(load).toThrow(ConfigError);
    const message = (() => {
      try {
        load();
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toContain('SPOKE_ACCOUNT_REGIONS: "2222:eu-west-1" is not <12-digit account>:<region>');
    expect(message).toContain(
      'SPOKE_ACCOUNT_REGIONS: "333333333333:cn-north-1" is in partition aws-cn, the registrar\'s region us-west-2 in aws',
    );
    expect(message).toContain('deploy one registrar per partition');
    expect(message).toContain('"444444444444:eu-west-1" is listed twice');
    expect(message).toContain('HOME_ACCOUNT_ID: required with SPOKE_ACCOUNT_REGIONS');
    expect(message).toContain('MEMBER_EXTERNAL_ID: required with SPOKE_ACCOUNT_REGIONS');
    expect(message).toContain('NETWORK_MAP: "444444444444=bad network" is not');
    expect(message).toContain('NETWORK_MAP: "555555555555:subnet-1=x" is not');
  });

  it('refuses the home pair listed as a spoke', () => {
    expect(() =>
      loadConfig({
        ...base,
        HOME_ACCOUNT_ID: '111111111111',
        MEMBER_EXTERNAL_ID: 'x-id',
        SPOKE_ACCOUNT_REGIONS: '111111111111:us-west-2',
      }),
    ).toThrow(/"111111111111:us-west-2" is the registrar's own account and region/);
  });

  it('checks the format of HOME_ACCOUNT_ID, MEMBER_ROLE_NAME and MEMBER_EXTERNAL_ID', () => {
    expect(() =>
      loadConfig({ ...base, HOME_ACCOUNT_ID: '12', MEMBER_ROLE_NAME: 'a b', MEMBER_EXTERNAL_ID: 'x' }),
    ).toThrow(/HOME_ACCOUNT_ID.*MEMBER_ROLE_NAME.*MEMBER_EXTERNAL_ID/);
  });
});
