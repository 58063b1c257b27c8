/**
 * The model of who made each share, for the random lifecycles: what AWS must hold after every step
 * when several resources (of one stack or of two) declare recipients on the same image and outside
 * parties share and unshare around them. It tracks the truth, not the handlers' record: for every
 * share (a launch permission, a snapshot's create-volume permission, a WorkSpaces share, a KMS grant
 * named for a resource) whether it is there, and whether the library or an outside party made it.
 *
 * The rules it predicts with (see README "Ownership"):
 * - a Create or Update makes what its resource declares and is missing (the library made it); what
 *   an outside party made stays the outside party's, declared or not;
 * - what a resource lets go (declared before, or held, and declared no longer; everything on Delete)
 *   is revoked only when no other live resource declares it and the library made it;
 * - a failed Create, and a failed replacement (a Create on the new image), undoes what it made;
 * - any other event that failed after changing something leaves what it touched unknown until the
 *   next read: a share that is there was made by the library (the outside party's shares are all
 *   known), one that is not is gone.
 *
 * No jest globals here: the runner uses this module outside jest.
 */

/** Who made a share that is there; `unknown`: a failed event touched it, the next read settles it. */
export type Made = 'library' | 'outside' | 'unknown';

/** What one resource's properties declare on one image: the model's keys (see the scenarios). */
export interface Declaration {
  readonly imageId: string;
  readonly keys: readonly string[];
}

/** A CloudFormation event as the model sees it. */
export interface ModelEvent {
  /** The resource: its stack and logical id. */
  readonly resource: string;
  readonly requestType: 'Create' | 'Update' | 'Delete';
  /** Create / Update: what the new properties declare. */
  readonly declared?: Declaration;
  /** Update: what the old properties declare; Delete: what its properties declare on the physical id's image. */
  readonly prior?: Declaration;
  /** Update / Delete: the image the physical id names (undefined when the handler did not issue it). */
  readonly inEffect?: string;
}

/** The fields of a CloudFormation event the model reads. */
interface ResourceEvent<P> {
  readonly RequestType: string;
  readonly StackId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: P;
  readonly OldResourceProperties?: P;
}

/**
 * The event as the model sees it, for either construct: `prefix` is the construct's physical id
 * prefix, `imageIds` the images the run made, `keys` what a declaration holds on an image.
 */
export function modelEventOf<P extends { ImageId: string }>(
  e: ResourceEvent<P>, prefix: string, imageIds: readonly string[], keys: (props: P | undefined, imageId: string) => readonly string[],
): ModelEvent {
  const fromPhysicalId = e.PhysicalResourceId?.startsWith(prefix) ? e.PhysicalResourceId.slice(prefix.length) : undefined;
  const inEffect = fromPhysicalId && imageIds.includes(fromPhysicalId) ? fromPhysicalId : undefined;
  const props = e.ResourceProperties;
  const requestType = e.RequestType as ModelEvent['requestType'];
  const resource = `${e.StackId.split('/')[1]}/${e.LogicalResourceId}`;
  if (requestType === 'Delete') {
    return { resource, requestType, inEffect, prior: inEffect ? { imageId: inEffect, keys: keys(props, inEffect) } : undefined };
  }
  const old = e.OldResourceProperties;
  return {
    resource,
    requestType,
    inEffect,
    declared: { imageId: props.ImageId, keys: keys(props, props.ImageId) },
    ...(old ? { prior: { imageId: old.ImageId, keys: keys(old, old.ImageId) } } : {}),
  };
}

/** How the event ended. */
export interface ModelOutcome {
  readonly ok: boolean;
  /** Mutating calls to EC2, KMS or WorkSpaces (a failure without any changed nothing there). */
  readonly mutating: number;
  /** The failure says something is left to undo by hand. */
  readonly byHand: boolean;
}

export class OwnershipModel {
  /** Every share there is (or may be), by key. */
  private readonly made = new Map<string, Made>();
  /** What each live resource holds, per image (a resource with an entry is live on that image). */
  private readonly held = new Map<string, Map<string, Set<string>>>();

  /** The image a key belongs to (for finding who else declares it). */
  constructor(private readonly imageOf: (key: string) => string) {}

  public state(key: string): Made | undefined {
    return this.made.get(key);
  }

  /** The resources (other than `except`) that declare `key` now. */
  public holders(key: string, except?: string): string[] {
    const image = this.imageOf(key);
    return [...this.held.entries()].filter(([r, byImage]) => r !== except && byImage.get(image)?.has(key)).map(([r]) => r);
  }

  /** Whether any resource is live on `imageId`. */
  public liveOn(imageId: string): boolean {
    return [...this.held.values()].some((byImage) => byImage.has(imageId));
  }

  /** Every key some live resource declares. */
  public declaredKeys(): string[] {
    return [...new Set([...this.held.values()].flatMap((byImage) => [...byImage.values()].flatMap((s) => [...s])))];
  }

  /** Whether an event declaring `keys` has work to do: one of them is not there. */
  public missing(keys: readonly string[]): string[] {
    return keys.filter((k) => !this.made.has(k));
  }

  /**
   * An outside party shares `key`: a no-op when it is there already (the share stays whoever made
   * it). Not played when a live resource declares a share removed outside: AWS records no grantor,
   * so nobody could tell the outside party's new share from the resource's old one.
   */
  public outsideAdd(key: string): 'added' | 'already there' | 'not played' {
    if (this.made.has(key)) return 'already there';
    if (this.holders(key).length > 0) return 'not played';
    this.made.set(key, 'outside');
    return 'added';
  }

  /** An outside party removes `key` (whoever made it); false when it was not there. */
  public outsideRemove(key: string): boolean {
    return this.made.delete(key);
  }

  /** What an event did, once the handler answered. */
  public apply(event: ModelEvent, outcome: ModelOutcome): void {
    let image: string | undefined;
    let declared: readonly string[] = [];
    let before: readonly string[] = [];
    let createLike = false;
    switch (event.requestType) {
      case 'Create':
        image = event.declared!.imageId;
        declared = event.declared!.keys;
        createLike = true;
        break;
      case 'Update': {
        image = event.declared!.imageId;
        declared = event.declared!.keys;
        const inEffect = event.inEffect ?? event.prior!.imageId;
        // A new image is a Create there; after a failed replacement the old properties name another image.
        createLike = inEffect !== image;
        if (!createLike && event.prior!.imageId === image) before = event.prior!.keys;
        break;
      }
      case 'Delete':
        if (!event.inEffect) return;
        image = event.inEffect;
        before = event.prior?.imageId === image ? event.prior.keys : [];
        break;
    }
    const own = this.held.get(event.resource)?.get(image) ?? new Set<string>();
    const letGo = [...new Set([...own, ...before])].filter((k) => !declared.includes(k));

    if (!outcome.ok) {
      // A failed Create undid what it made; a failure before any change changed nothing there.
      if ((createLike && !outcome.byHand) || outcome.mutating === 0) return;
      for (const k of [...declared, ...letGo]) if (this.made.get(k) !== 'outside') this.made.set(k, 'unknown');
      return;
    }
    for (const k of declared) if (this.made.get(k) !== 'outside') this.made.set(k, 'library');
    for (const k of letGo) {
      if (this.holders(k, event.resource).length === 0 && this.made.get(k) !== 'outside') this.made.delete(k);
    }
    const byImage = this.held.get(event.resource) ?? new Map<string, Set<string>>();
    this.held.set(event.resource, byImage);
    if (event.requestType === 'Delete') byImage.delete(image);
    else byImage.set(image, new Set(declared));
    if (byImage.size === 0) this.held.delete(event.resource);
  }

  /** Settles the unknown keys of one domain from a read: there → the library made it; not there → gone. */
  public settle(inDomain: (key: string) => boolean, observed: ReadonlySet<string>): void {
    for (const [k, m] of [...this.made.entries()]) {
      if (m !== 'unknown' || !inDomain(k)) continue;
      if (observed.has(k)) this.made.set(k, 'library');
      else this.made.delete(k);
    }
  }

  /**
   * The differences between what one domain should hold (`inDomain`) and what it holds
   * (`observed`), each explained: a declared share missing, an outside share gone, a share nobody
   * declares left behind by the library. Call `settle` first.
   */
  public compare(inDomain: (key: string) => boolean, observed: ReadonlySet<string>, name: (key: string) => string): string[] {
    const problems: string[] = [];
    for (const [k, m] of this.made) {
      if (!inDomain(k) || observed.has(k)) continue;
      const holders = this.holders(k);
      if (m === 'outside') problems.push(`${name(k)} is gone, but an outside party made it${holders.length ? ` (and ${holders.join(', ')} declare it)` : ''}: the library must never revoke it`);
      else problems.push(`${name(k)} is missing, but ${holders.length ? `${holders.join(', ')} declare${holders.length === 1 ? 's' : ''} it` : 'the library made it and no Delete revoked it'}`);
    }
    for (const k of observed) {
      if (!inDomain(k) || this.made.has(k)) continue;
      const image = this.imageOf(k);
      problems.push(this.liveOn(image)
        ? `${name(k)} is there, but no live resource declares it and no outside party made it`
        : `${name(k)} is still there after the last Delete on its image: only outside shares may remain`);
    }
    return problems;
  }
}
