import type { AmiShareSpec } from '../../lambda/ami/plan';

/** A parsed SharedAmi declaration with every default, for the pure-function tests. */
export function amiSpec(overrides: Partial<AmiShareSpec> = {}): AmiShareSpec {
  return {
    imageId: 'ami-0123456789abcdef0',
    accounts: [],
    organizationArns: [],
    organizationalUnitArns: [],
    shareSnapshots: false,
    kmsGrants: true,
    autoScalingRoleGrants: false,
    declaredKeyArns: [],
    guardImage: false,
    deleteImage: false,
    deleteSnapshots: false,
    forceUnshare: false,
    takeOver: false,
    protection: true,
    protectionCooldown: false,
    ...overrides,
  };
}
