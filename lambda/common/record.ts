/**
 * The record's part of an event after its changes are applied (DESIGN.md, "Ownership"): notes that
 * the event's revokes were done, hands over what it let go while others still hold it, and removes
 * the claims of gone resources whose handed-over shares were revoked now.
 */
import * as claims from './claims-adapter';
import { Claim, isHandover, OwnershipDecision, Record_ } from './ownership';

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
    const handed = [...other.handedOver!.shares, ...other.handedOver!.snapshots];
    if (handed.every((k) => done.has(k))) await claims.deleteClaim(imageId, other.claimId);
  }
}
