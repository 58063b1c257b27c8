/**
 * The record of ownership: which resource holds which share of an image, and whether the library
 * granted the share or found it made outside (console, CLI, another tool). AWS records no grantor
 * for launch permissions, snapshot create-volume permissions or WorkSpaces shares, so the handlers
 * keep this record themselves, one claim per resource and image (see DESIGN.md, "Ownership").
 * Pure decisions and the claim's encoding; the Parameter Store calls are in ./claims-adapter.
 */
import { createHash } from 'crypto';
import { deflateRawSync, inflateRawSync } from 'zlib';
import { unique } from './sets';

/** Who made a share: the library (revoked when the last claim on it goes) or someone outside (never revoked). */
export type Mark = 'library' | 'outside';

/** What one resource holds on one image. Keys: launch-permission keys (`UserId:...`) or accounts. */
export interface Claim {
  /** Stable id of the resource (stack and logical id), the last part of the parameter name. */
  readonly claimId: string;
  readonly stack: string;
  readonly resource: string;
  /** Recipients of launch permission (AMI) or of the WorkSpaces share → who made the share. */
  readonly shares: Readonly<Record<string, Mark>>;
  /** Accounts with create-volume permission on the AMI's snapshots → who made it. */
  readonly snapshots: Readonly<Record<string, Mark>>;
  /**
   * Recipients this resource is letting go in the event in progress, with their marks: kept until the
   * next event, so that a retry, or a rollback that takes them back, knows who made them.
   */
  readonly releasing: Readonly<Record<string, Mark>>;
  readonly releasingSnapshots: Readonly<Record<string, Mark>>;
  /**
   * Deregistration protection (AMIs): `library` when the library turned it on, `outside` when it
   * was on before; absent when this resource does not keep it.
   */
  readonly protection?: Mark;
  /** When the claim was written (ms since the epoch): how fresh its `releasing` note is. */
  readonly writtenAt?: number;
  /** The event that wrote `releasing` revoked what it had to (its note is history, not a plan). */
  readonly released?: boolean;
  /**
   * Shares this resource made and let go while other resources still held them: whoever lets go
   * last revokes them, even if its own record calls them outside. Kept after the resource's Delete
   * in a claim that holds nothing else.
   */
  readonly handedOver?: Parts<readonly string[]>;
}

/**
 * How long after an event wrote its note of what it lets go the note is trusted over a read of AWS:
 * longer than the event itself plus the time AWS's reads lag its writes (seconds), shorter than the
 * time anyone takes to share a revoked recipient again by hand.
 */
export const freshness = { ms: 60_000 };

/** The prefix of every claim's parameter name; one folder per image under it. */
export const CLAIMS_ROOT = '/cdk-shared-images/claims';

export function claimsPath(imageId: string): string {
  return `${CLAIMS_ROOT}/${imageId}`;
}

/** The resource's claim id: a hash of its stack name and logical id (parameter names allow [a-zA-Z0-9_.-/]). */
export function claimIdOf(stackId: string, logicalId: string): string {
  const stackName = String(stackId).split('/')[1] ?? 'stack';
  return createHash('sha256').update(`${stackName}/${logicalId}`).digest('hex').slice(0, 24);
}

export function stackNameOf(stackId: string): string {
  return String(stackId).split('/')[1] ?? 'stack';
}

// ---------------------------------------------------------------------------------------------
// Encoding: a Parameter Store value holds at most 4 KB (standard) or 8 KB (advanced)
// ---------------------------------------------------------------------------------------------

const ENCODING = 'z2:';

/**
 * A list of keys, packed: 12-digit account ids (bare, or as `UserId:` launch-permission keys) as
 * sorted differences in decimal (which deflate well), anything else (organization and OU ARNs) as it is.
 */
interface Packed { u?: string; b?: string; x?: string[] }

const ACCOUNT_KEY = /^(UserId:)?(\d{12})$/;

function deltas(ids: number[]): string | undefined {
  if (ids.length === 0) return undefined;
  const sorted = [...ids].sort((a, b) => a - b);
  return sorted.map((v, i) => String(i === 0 ? v : v - sorted[i - 1])).join(',');
}

function undeltas(text: string | undefined): number[] {
  if (!text) return [];
  let sum = 0;
  return text.split(',').map((d) => (sum += Number(d)));
}

function pack(keys: readonly string[]): Packed {
  const user: number[] = [];
  const bare: number[] = [];
  const other: string[] = [];
  for (const k of keys) {
    const m = ACCOUNT_KEY.exec(k);
    if (!m) other.push(k);
    else (m[1] ? user : bare).push(Number(m[2]));
  }
  const out: Packed = {};
  const u = deltas(user);
  const b = deltas(bare);
  if (u) out.u = u;
  if (b) out.b = b;
  if (other.length > 0) out.x = [...other].sort();
  return out;
}

function unpack(p: Packed | undefined): string[] {
  if (!p) return [];
  const account = (n: number): string => String(n).padStart(12, '0');
  return [...undeltas(p.u).map((n) => `UserId:${account(n)}`), ...undeltas(p.b).map(account), ...(p.x ?? [])];
}

interface Wire {
  s: string;
  r: string;
  /** shares, snapshots, releasing, releasing snapshots: library-made (l) and outside-made (o) keys */
  sh: { l: Packed; o: Packed };
  /** snapshots: 1 when they are exactly the shares' accounts with the same marks (shareSnapshots) */
  sn: { l: Packed; o: Packed } | 1;
  re: { l: Packed; o: Packed };
  rs: { l: Packed; o: Packed };
  /** protection: 'l' the library turned it on, 'o' it was on before */
  p?: 'l' | 'o';
  /** written at (ms since the epoch) */
  t?: number;
  /** released: 1 when the releasing note's revokes were done */
  rd?: 1;
  /** handed over: shares and snapshot accounts the library made, let go while others held them */
  ho?: { s: Packed; n: Packed };
}

const byMark = (m: Readonly<Record<string, Mark>>, mark: Mark): string[] => Object.keys(m).filter((k) => m[k] === mark);
const marked = (library: string[] = [], outside: string[] = []): Record<string, Mark> => ({
  ...Object.fromEntries(library.map((k) => [k, 'library' as const])),
  ...Object.fromEntries(outside.map((k) => [k, 'outside' as const])),
});
const packMarks = (m: Readonly<Record<string, Mark>>) => ({ l: pack(byMark(m, 'library')), o: pack(byMark(m, 'outside')) });
const unpackMarks = (w: { l?: Packed; o?: Packed } | undefined) => marked(unpack(w?.l), unpack(w?.o));

/** The snapshot marks that the shares' accounts imply (what sharing snapshots with every account gives). */
function accountsOf(shares: Readonly<Record<string, Mark>>): Record<string, Mark> {
  return Object.fromEntries(Object.entries(shares).flatMap(([k, m]) => {
    const match = ACCOUNT_KEY.exec(k);
    return match && match[1] ? [[match[2], m]] : [];
  }));
}

const sameMarks = (a: Readonly<Record<string, Mark>>, b: Readonly<Record<string, Mark>>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k]);

/**
 * The claim as a parameter value: compact JSON, deflated, base64. 1,000 random accounts with their
 * snapshot permissions take about 6 KB (Parameter Store's advanced tier); a few hundred fit the
 * standard tier's 4 KB.
 */
export function encodeClaim(claim: Claim): string {
  const implied = Object.keys(claim.snapshots).length > 0 && sameMarks(claim.snapshots, accountsOf(claim.shares));
  const wire: Wire = {
    s: claim.stack,
    r: claim.resource,
    sh: packMarks(claim.shares),
    sn: implied ? 1 : packMarks(claim.snapshots),
    re: packMarks(claim.releasing),
    rs: packMarks(claim.releasingSnapshots),
    ...(claim.protection ? { p: claim.protection === 'library' ? 'l' as const : 'o' as const } : {}),
    ...(claim.writtenAt !== undefined ? { t: claim.writtenAt } : {}),
    ...(claim.released ? { rd: 1 as const } : {}),
    ...(claim.handedOver && (claim.handedOver.shares.length + claim.handedOver.snapshots.length > 0)
      ? { ho: { s: pack(claim.handedOver.shares), n: pack(claim.handedOver.snapshots) } } : {}),
  };
  return ENCODING + deflateRawSync(Buffer.from(JSON.stringify(wire)), { level: 9 }).toString('base64');
}

/** A claim read back; undefined for a value this library did not write (never trusted, never changed). */
export function decodeClaim(claimId: string, value: string): Claim | undefined {
  if (!value.startsWith(ENCODING)) return undefined;
  try {
    const wire = JSON.parse(inflateRawSync(Buffer.from(value.slice(ENCODING.length), 'base64')).toString('utf8')) as Partial<Wire>;
    if (typeof wire.s !== 'string' || typeof wire.r !== 'string') return undefined;
    const shares = unpackMarks(wire.sh);
    return {
      claimId,
      stack: wire.s,
      resource: wire.r,
      shares,
      snapshots: wire.sn === 1 ? accountsOf(shares) : unpackMarks(wire.sn),
      releasing: unpackMarks(wire.re),
      releasingSnapshots: unpackMarks(wire.rs),
      ...(wire.p ? { protection: wire.p === 'l' ? 'library' as const : 'outside' as const } : {}),
      ...(typeof wire.t === 'number' ? { writtenAt: wire.t } : {}),
      ...(wire.rd ? { released: true } : {}),
      ...(wire.ho ? { handedOver: { shares: unpack(wire.ho.s), snapshots: unpack(wire.ho.n) } } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Parameter Store's largest value (advanced tier); the intelligent tier picks standard below 4 KB. */
export const MAX_CLAIM_VALUE = 8192;

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

/** The claims on an image: this resource's (if it has one) and everyone else's. */
export interface Record_ {
  readonly own?: Claim;
  readonly others: Claim[];
}

/** Splits the claims read from an image's folder into this resource's and the others'. */
export function splitClaims(claims: readonly Claim[], claimId: string): Record_ {
  return { own: claims.find((c) => c.claimId === claimId), others: claims.filter((c) => c.claimId !== claimId) };
}

/** Which part of a claim: the shares (launch permissions / WorkSpaces) or the snapshots' permissions. */
export type Part = 'shares' | 'snapshots';

const releasingPart = (part: Part): 'releasing' | 'releasingSnapshots' => (part === 'shares' ? 'releasing' : 'releasingSnapshots');

/** The resources (stack / logical id) other than this one that hold `key`. */
export function holdersOf(key: string, others: readonly Claim[], part: Part = 'shares'): string[] {
  return others.filter((c) => c[part][key] !== undefined).map((c) => `${c.stack}/${c.resource}`);
}

/**
 * Who made the share of `key` that this resource now declares:
 * - what this resource's own record says (held, or being released: a retry or a rollback);
 * - else what another resource's claim says (an outside share stays outside for everyone);
 * - else, with no claim anywhere: a share already there was made outside, unless the user opted in
 *   to take over hand-made shares; a missing one is the library's to make.
 * `present`: the share is there now, as far as the (possibly lagging) read shows.
 */
export function markOf(key: string, part: Part, record: Record_, present: boolean, takeOver: boolean, now = Date.now()): Mark {
  if (takeOver) return 'library';
  const own = record.own?.[part][key];
  // An outside share that is gone now is made again by this event: the library's from now on.
  if (own) return own === 'outside' && !present ? 'library' : own;
  const theirs = record.others.map((c) => c[part][key]).filter((m): m is Mark => m !== undefined);
  // Held by others: the share that is there was made as they say; one that is gone (removed by
  // hand) this event makes again, so it is the library's.
  if (theirs.length > 0) return !present ? 'library' : theirs.includes('outside') ? 'outside' : 'library';
  // Being let go by an event of moments ago (a rollback that takes it back): the note says who
  // made it, since a read so soon may still show what that event revoked.
  const released = record.own?.[releasingPart(part)][key];
  // (A note whose revokes never happened, an update that failed part-way, stays true.)
  if (released && (!record.own?.released || now - (record.own?.writtenAt ?? 0) < freshness.ms)) return released;
  // Otherwise whoever made the share that is there now, it was not this resource; one that is
  // missing, this event makes.
  return present ? 'outside' : 'library';
}

/**
 * Whether letting go of `key` revokes it: only a share this resource's record says the library
 * made (held, or being let go by an event that is retried), and only when no other resource holds
 * it. No record, no revoke: a Delete delivered again after the first removed the claim changes
 * nothing.
 */
export function mayRevoke(key: string, part: Part, record: Record_): boolean {
  if (holdersOf(key, record.others, part).length > 0) return false;
  const own = record.own?.[part][key] ?? record.own?.[releasingPart(part)][key];
  if (own === 'library') return true;
  // Outside by this resource's record, but made again by the library for another resource that
  // has let go since: the last to let go revokes it.
  return own !== undefined && record.others.some((c) => c.handedOver?.[part].includes(key));
}

/** What a resource lets go while others still hold it, and the library made: handed to the last holder. */
export function handOver(own: Claim | undefined, kept: Parts<readonly string[]>): Parts<string[]> {
  const made = (part: Part) => kept[part].filter((k) => (own?.[part][k] ?? own?.[releasingPart(part)][k]) === 'library');
  return { shares: made('shares'), snapshots: made('snapshots') };
}

/** Whether a claim holds nothing and only hands shares over (a resource that is gone). */
export function isHandover(claim: Claim): claim is Claim & { readonly handedOver: Parts<readonly string[]> } {
  return Object.keys(claim.shares).length === 0 && Object.keys(claim.snapshots).length === 0 && claim.handedOver !== undefined;
}

/**
 * This resource's next claim: what it declares now (with marks), and what it lets go (with marks,
 * for a retry or a rollback). A Delete passes nothing declared.
 */
export function nextClaim(
  base: { claimId: string; stack: string; resource: string }, record: Record_,
  declared: { shares: readonly string[]; snapshots: readonly string[] },
  present: { shares: ReadonlySet<string>; snapshots: ReadonlySet<string> },
  letGo: { shares: readonly string[]; snapshots: readonly string[] },
  takeOver: boolean,
  now = Date.now(),
): Claim {
  const marks = (part: Part, keys: readonly string[], shown: ReadonlySet<string>): Record<string, Mark> =>
    Object.fromEntries(keys.map((k) => [k, markOf(k, part, record, shown.has(k), takeOver, now)]));
  const keepMarks = (part: Part, keys: readonly string[]): Record<string, Mark> =>
    Object.fromEntries(keys.map((k) => [k, record.own?.[part][k] ?? record.own?.[releasingPart(part)][k] ?? 'library']));
  return {
    ...base,
    shares: marks('shares', declared.shares, present.shares),
    snapshots: marks('snapshots', declared.snapshots, present.snapshots),
    releasing: keepMarks('shares', letGo.shares.filter((k) => !declared.shares.includes(k))),
    releasingSnapshots: keepMarks('snapshots', letGo.snapshots.filter((k) => !declared.snapshots.includes(k))),
  };
}

/** Whether two claims say the same about shares and protection (the time they were written aside). */
function sameContent(a: Claim, b: Claim): boolean {
  return encodeClaim({ ...a, writtenAt: undefined }) === encodeClaim({ ...b, writtenAt: undefined });
}

/** Whether two claims say the same (so an event that changes nothing writes nothing). */
export function sameClaim(a: Claim | undefined, b: Claim): boolean {
  return a !== undefined && sameContent(a, b);
}

/** What a resource's record says it holds (with what its old properties declared: what it may let go). */
export function heldKeys(claim: Claim | undefined, part: Part): string[] {
  return claim ? Object.keys(claim[part]) : [];
}

/** Per part: launch permissions or WorkSpaces shares (`shares`), snapshot permissions (`snapshots`). */
export interface Parts<T> {
  readonly shares: T;
  readonly snapshots: T;
}

/** Who a claim belongs to. */
export interface ClaimOwner {
  readonly claimId: string;
  readonly stack: string;
  readonly resource: string;
}

export function claimOwner(stackId: string, logicalId: string): ClaimOwner {
  return { claimId: claimIdOf(stackId, logicalId), stack: stackNameOf(stackId), resource: logicalId };
}

/** An event's ownership decision: the claim to write, and what to revoke and what to keep of what it lets go. */
export interface OwnershipDecision {
  readonly claim: Claim;
  readonly release: Parts<string[]>;
  readonly kept: string[];
  /** Of what is let go, what the library made and others still hold (see handOver). */
  readonly handedOver: Parts<string[]>;
}

/**
 * The whole decision for one event: what this resource declares now (`declared`), declared before
 * (`before`, from the old properties), and AWS shows now (`present`, possibly lagging). What it lets
 * go is what it declared or recorded before and declares no longer; of that, only shares the
 * library made and no other resource holds are revoked.
 */
export function decideOwnership(
  owner: ClaimOwner, record: Record_, declared: Parts<readonly string[]>, before: Parts<readonly string[]>,
  present: Parts<ReadonlySet<string>>, takeOver: boolean, now = Date.now(),
): OwnershipDecision {
  const letGoOf = (part: Part): string[] =>
    unique([...before[part], ...heldKeys(record.own, part)]).filter((k) => !declared[part].includes(k));
  const letGo = { shares: letGoOf('shares'), snapshots: letGoOf('snapshots') };
  const claim = { ...nextClaim(owner, record, declared, present, letGo, takeOver, now), writtenAt: now };
  const release = {
    shares: letGo.shares.filter((k) => mayRevoke(k, 'shares', record)),
    snapshots: letGo.snapshots.filter((k) => mayRevoke(k, 'snapshots', record)),
  };
  const keptParts = {
    shares: letGo.shares.filter((k) => !release.shares.includes(k)),
    snapshots: letGo.snapshots.filter((k) => !release.snapshots.includes(k)),
  };
  const kept = [...keptParts.shares, ...keptParts.snapshots];
  return { claim, release, kept, handedOver: handOver(record.own, keptParts) };
}

/** Of what an event revoked, what another resource claimed meanwhile (read after the revoke): to put back. */
export function claimedMeanwhile(released: readonly string[], others: readonly Claim[], part: Part = 'shares'): string[] {
  return released.filter((k) => holdersOf(k, others, part).length > 0);
}

/** What to do about deregistration protection in one event. */
export interface ProtectionDecision {
  /** The mark this resource's claim keeps (undefined: it keeps no protection). */
  readonly mark?: Mark;
  /** Turn protection on now (wanted, and EC2 shows it off). */
  readonly enable: boolean;
  /** Turn protection off now: the library turned it on, and this was the last claim on the image. */
  readonly disable: boolean;
}

/**
 * Deregistration protection follows the claims: on while any resource of the library holds shares
 * of the AMI, turned off only by the last one to let go, and only if the library turned it on.
 * `wanted`: this resource keeps protection after this event (false on Delete, or when opted out);
 * `on`: EC2 reports it on now.
 */
export function decideProtection(record: Record_, wanted: boolean, on: boolean): ProtectionDecision {
  const theirs = record.others.map((c) => c.protection).filter((m): m is Mark => m !== undefined);
  const known = record.own?.protection ?? (theirs.length > 0 ? (theirs.includes('outside') ? 'outside' : 'library') : undefined);
  if (wanted) {
    const mark = known ?? (on ? 'outside' : 'library');
    return { mark, enable: !on, disable: false };
  }
  const lastClaim = record.others.length === 0;
  return { enable: false, disable: on && lastClaim && known === 'library' };
}
