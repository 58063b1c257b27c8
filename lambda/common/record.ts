/**
 * The record's part of an event (DESIGN.md, "Ownership"), around the changes an executor applies:
 * the claim is written before the first grant, dropped again by a failed Create, checked after the
 * revokes for what another resource claimed meanwhile, and finished after the last change (the
 * revokes noted as done, hand-overs, the claims of gone resources whose handed-over shares were
 * revoked now).
 */
import * as claims from './claims-adapter';
import { Claim, claimedMeanwhile, isHandover, OwnershipDecision, Record_, sameClaim, splitClaims } from './ownership';

/** This resource's claim and everyone else's on the image. */
export async function readRecord(imageId: string, claimId: string): Promise<Record_> {
  return splitClaims(await claims.readClaims(imageId), claimId);
}

/**
 * Whether the event writes its claim before its first change: only when the claim changed, and on
 * Delete only over a claim that exists (a Delete delivered again after the first removed it).
 */
export function mustWriteClaim(record: Record_, claim: Claim, deleting: boolean): boolean {
  return !sameClaim(record.own, claim) && (!deleting || record.own !== undefined);
}

/** Writes the claim before the first grant (see mustWriteClaim), so no one sees a share of ours without it. */
export async function writeClaimBeforeChanges(imageId: string, record: Record_, claim: Claim, deleting: boolean): Promise<void> {
  if (mustWriteClaim(record, claim, deleting)) await claims.writeClaim(imageId, claim);
}

/**
 * A failed Create undid its shares: its claim goes too, unless an earlier delivery made it. Best
 * effort (the Create's own failure is what the user sees); returns whether the claim was dropped.
 */
export async function dropClaimOfFailedCreate(imageId: string, record: Record_, claimId: string): Promise<boolean> {
  if (record.own) return false;
  await claims.deleteClaim(imageId, claimId).catch(() => undefined);
  return true;
}

/**
 * After revoking `released`, reads the claims again: what another resource claimed meanwhile (two
 * deployments on one image at the same moment) is to be put back. The other resource wrote its
 * claim before granting, so either this read sees the claim, or its grant comes after this revoke.
 */
export async function claimedByOthersMeanwhile(imageId: string, claimId: string, released: readonly string[]): Promise<string[]> {
  if (released.length === 0) return [];
  return claimedMeanwhile(released, (await readRecord(imageId, claimId)).others);
}

export async function finishRecord(imageId: string, record: Record_, decision: OwnershipDecision, claim: Claim, deleting: boolean): Promise<void> {
  const revoked = [...decision.release.shares, ...decision.release.snapshots];
  if (deleting) {
    const handed = decision.handedOver.shares.length + decision.handedOver.snapshots.length > 0;
    if (handed) {
      await claims.writeClaim(imageId, {
        ...claim, shares: {}, snapshots: {}, releasing: {}, releasingSnapshots: {}, released: true, handedOver: decision.handedOver,
      });
    } else {
      await claims.deleteClaim(imageId, claim.claimId);
    }
  } else if (revoked.length > 0) {
    await claims.writeClaim(imageId, { ...claim, released: true });
  }
  // A gone resource's hand-over is done once what it handed over is revoked.
  const done = new Set(revoked);
  for (const other of record.others.filter(isHandover)) {
    const handed = [...other.handedOver.shares, ...other.handedOver.snapshots];
    if (handed.every((k) => done.has(k))) await claims.deleteClaim(imageId, other.claimId);
  }
}
