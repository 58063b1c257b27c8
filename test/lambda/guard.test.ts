import { decideGuard, remainingAfterOwnRevoke } from '../../lambda/common/guard';

describe('decideGuard', () => {
  test('nothing remains: proceed', () => {
    expect(decideGuard('AMI ami-12345678', [], false)).toEqual({ action: 'proceed' });
    expect(decideGuard('AMI ami-12345678', [], true)).toEqual({ action: 'proceed' });
  });

  test('shares remain: block with one sentence naming the image, the holders and both ways out', () => {
    const d = decideGuard('WorkSpaces image wsi-0123abcde', ['111111111111', 'arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-cdef3456'], false);
    expect(d).toEqual({
      action: 'block',
      message: 'WorkSpaces image wsi-0123abcde was not deleted because it is still shared with 111111111111, '
        + 'arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-cdef3456 (not granted by this share): '
        + 'unshare them, or set forceUnshareOnRemoval: true to revoke every share, then delete again.',
    });
  });

  test('many holders are summarized', () => {
    const holders = Array.from({ length: 8 }, (_, i) => String(100000000000 + i));
    const d = decideGuard('AMI ami-12345678', holders, false);
    expect(d.action === 'block' && d.message).toContain('100000000004 and 3 more (not granted by this share)');
  });

  test('forced: revoke exactly the remaining holders', () => {
    expect(decideGuard('AMI ami-12345678', ['111111111111', '222222222222'], true)).toEqual({ action: 'force', revoke: ['111111111111', '222222222222'] });
  });
});

describe('remainingAfterOwnRevoke', () => {
  test('a lagging read that still shows this resource\'s own recipients counts only the others', () => {
    expect(remainingAfterOwnRevoke(['UserId:1', 'UserId:2', 'UserId:9'], ['UserId:1', 'UserId:2'])).toEqual(['UserId:9']);
  });

  test('nothing of others: nothing remains; duplicates in the read count once', () => {
    expect(remainingAfterOwnRevoke(['UserId:1', 'UserId:1'], ['UserId:1'])).toEqual([]);
    expect(remainingAfterOwnRevoke(['UserId:9', 'UserId:9'], [])).toEqual(['UserId:9']);
  });
});
