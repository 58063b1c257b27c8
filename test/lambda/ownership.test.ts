import {
  Claim, claimedMeanwhile, claimIdOf, claimOwner, decideOwnership, decodeClaim, encodeClaim, holdersOf, markOf, mayRevoke, Record_,
  sameClaim, splitClaims,
} from '../../lambda/common/ownership';

const STACK = 'arn:aws:cloudformation:us-east-1:123456789012:stack/platform/guid';
const owner = claimOwner(STACK, 'GoldenShare');
const other = claimOwner('arn:aws:cloudformation:us-east-1:123456789012:stack/team/guid2', 'TeamShare');
const A = 'UserId:111111111111';
const B = 'UserId:222222222222';
const none = { shares: new Set<string>(), snapshots: new Set<string>() };

function claim(of: typeof owner, shares: Record<string, 'library' | 'outside'>, releasing: Record<string, 'library' | 'outside'> = {}): Claim {
  return { ...of, shares, snapshots: {}, releasing, releasingSnapshots: {} };
}

describe('claims', () => {
  test('a claim id is stable per stack and logical id, and differs between resources', () => {
    expect(claimIdOf(STACK, 'GoldenShare')).toBe(owner.claimId);
    expect(claimIdOf(STACK.replace('/guid', '/other-guid'), 'GoldenShare')).toBe(owner.claimId);
    expect(other.claimId).not.toBe(owner.claimId);
    expect(owner.claimId).toMatch(/^[0-9a-f]{24}$/);
  });

  test('encode / decode round-trips; a value this library did not write is ignored', () => {
    const c = claim(owner, { [A]: 'library', [B]: 'outside' }, { 'UserId:333333333333': 'library' });
    expect(decodeClaim(owner.claimId, encodeClaim(c))).toEqual(c);
    expect(decodeClaim(owner.claimId, 'hand-written')).toBeUndefined();
    expect(decodeClaim(owner.claimId, 'z1:not-deflate')).toBeUndefined();
  });

  test('1,000 random accounts, with their snapshot permissions too, fit one advanced parameter (8 KB); 250 fit the standard tier (4 KB)', () => {
    let seed = 42;
    const account = (): string => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return String(100000000000 + (seed * 7919) % 900000000000);
    };
    const accounts = Array.from({ length: 1000 }, account);
    const of = (list: string[], prefix = ''): Record<string, 'library'> => Object.fromEntries(list.map((a) => [`${prefix}${a}`, 'library' as const]));
    const big: Claim = { ...claim(owner, of(accounts, 'UserId:')), snapshots: of(accounts) };
    expect(encodeClaim(big).length).toBeLessThanOrEqual(8192);
    const small: Claim = { ...claim(owner, of(accounts.slice(0, 250), 'UserId:')), snapshots: of(accounts.slice(0, 250)) };
    expect(encodeClaim(small).length).toBeLessThanOrEqual(4096);
  });

  test('splitClaims tells this resource\'s claim from the others\'', () => {
    const mine = claim(owner, {});
    const theirs = claim(other, { [A]: 'library' });
    expect(splitClaims([theirs, mine], owner.claimId)).toEqual({ own: mine, others: [theirs] });
  });
});

describe('markOf: who made a share this resource declares', () => {
  const empty: Record_ = { others: [] };

  test('with no claim anywhere: there already means outside, missing means the library\'s; take-over makes it the library\'s', () => {
    expect(markOf(A, 'shares', empty, true, false)).toBe('outside');
    expect(markOf(A, 'shares', empty, false, false)).toBe('library');
    expect(markOf(A, 'shares', empty, true, true)).toBe('library');
  });

  test('this resource\'s own record wins: a replay never re-judges its own share', () => {
    expect(markOf(A, 'shares', { own: claim(owner, { [A]: 'library' }), others: [] }, true, false)).toBe('library');
    expect(markOf(A, 'shares', { own: claim(owner, { [A]: 'outside' }), others: [] }, true, false)).toBe('outside');
  });

  test('an outside share that is gone now is made again by this event: the library\'s from then on', () => {
    expect(markOf(A, 'shares', { own: claim(owner, { [A]: 'outside' }), others: [] }, false, false)).toBe('library');
  });

  test('a recipient let go (revoked) long ago and declared again: there now means someone outside made it after the revoke', () => {
    const old = { own: { ...claim(owner, {}, { [A]: 'library' }), released: true, writtenAt: 0 }, others: [] };
    expect(markOf(A, 'shares', old, true, false, 10_000_000)).toBe('outside');
    expect(markOf(A, 'shares', old, false, false, 10_000_000)).toBe('library');
  });

  test('a note whose revokes never happened (an update that failed part-way) stays true however old', () => {
    const failed = { own: { ...claim(owner, {}, { [A]: 'library' }), writtenAt: 0 }, others: [] };
    expect(markOf(A, 'shares', failed, true, false, 10_000_000)).toBe('library');
  });

  test('a share handed over by a resource that is gone is revoked by the last holder, even one that found it outside', () => {
    const gone: Claim = { ...claim(other, {}), handedOver: { shares: [A], snapshots: [] } };
    expect(mayRevoke(A, 'shares', { own: claim(owner, { [A]: 'outside' }), others: [gone] })).toBe(true);
    expect(holdersOf(A, [gone])).toEqual([]);
    expect(decodeClaim(other.claimId, encodeClaim(gone))).toEqual(gone);
  });

  test('another resource\'s claim tells: an outside share stays outside for everyone', () => {
    expect(markOf(A, 'shares', { others: [claim(other, { [A]: 'library' })] }, true, false)).toBe('library');
    expect(markOf(A, 'shares', { others: [claim(other, { [A]: 'outside' }), claim(owner, { [A]: 'library' })] }, true, false)).toBe('outside');
  });
});

describe('mayRevoke and decideOwnership', () => {
  test('revoked only when the record says the library made it and nobody else holds it; no record, no revoke', () => {
    expect(mayRevoke(A, 'shares', { own: claim(owner, { [A]: 'library' }), others: [] })).toBe(true);
    expect(mayRevoke(A, 'shares', { own: claim(owner, {}, { [A]: 'library' }), others: [] })).toBe(true);
    expect(mayRevoke(A, 'shares', { own: claim(owner, { [A]: 'outside' }), others: [] })).toBe(false);
    expect(mayRevoke(A, 'shares', { own: claim(owner, { [A]: 'library' }), others: [claim(other, { [A]: 'library' })] })).toBe(false);
    expect(mayRevoke(A, 'shares', { others: [] })).toBe(false);
  });

  test('an update that drops A and B: A (the library\'s) is revoked, B (outside) kept and remembered as releasing', () => {
    const record = { own: claim(owner, { [A]: 'library', [B]: 'outside' }), others: [] };
    const d = decideOwnership(owner, record, { shares: [], snapshots: [] }, { shares: [A, B], snapshots: [] }, none, false);
    expect(d.release).toEqual({ shares: [A], snapshots: [] });
    expect(d.kept).toEqual([B]);
    expect(d.claim.shares).toEqual({});
    expect(d.claim.releasing).toEqual({ [A]: 'library', [B]: 'outside' });
  });

  test('what the record holds is let go even when the old properties do not name it (a rollback after a failed replacement)', () => {
    const record = { own: claim(owner, { [A]: 'library' }), others: [] };
    const d = decideOwnership(owner, record, { shares: [B], snapshots: [] }, { shares: [], snapshots: [] }, none, false);
    expect(d.release.shares).toEqual([A]);
    expect(d.claim.shares).toEqual({ [B]: 'library' });
  });

  test('an event that changes nothing makes the same claim (nothing to write)', () => {
    const record = { own: claim(owner, { [A]: 'library' }), others: [] };
    const present = { shares: new Set([A]), snapshots: new Set<string>() };
    const d = decideOwnership(owner, record, { shares: [A], snapshots: [] }, { shares: [A], snapshots: [] }, present, false);
    expect(sameClaim(record.own, d.claim)).toBe(true);
  });

  test('what another resource claimed while this one revoked is put back, and the holders are named', () => {
    const theirs = claim(other, { [B]: 'library' });
    expect(claimedMeanwhile([A, B], [theirs])).toEqual([B]);
    expect(holdersOf(B, [theirs])).toEqual(['team/TeamShare']);
  });
});
