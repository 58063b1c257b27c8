/**
 * Reading custom-resource properties as CloudFormation delivers them (anything may arrive): one
 * reader for every handler, collecting every problem so the user gets them all in one sentence.
 *
 * The reader is typed by the resource type's property interface in the contract
 * (src/private/contract.ts), so every key a handler reads is a key the construct sends: a key
 * renamed in the contract no longer compiles here either.
 */
import { ShareError } from './errors';
import { summarize, unique } from './sets';
import {
  CommonShareResourcePropertyKey, ListPropertyKey, ScalarPropertyKey, ShareResourceProperties,
} from '../../src/private/contract';
import { checkRecipient, checkShareRoleArn, RecipientKind, show } from '../../src/private/validation';

/** Problems named one by one in a refusal; the rest are counted. */
export const MAX_PROBLEMS_SHOWN = 5;

/** Unknown keys longer than this are quoted and cut short in a refusal. */
const MAX_KEY_SHOWN = 40;

/** The keys every share resource carries, named once for the reader. */
const IMAGE_ID: CommonShareResourcePropertyKey = 'ImageId';
const SHARE_ROLE_ARN: CommonShareResourcePropertyKey = 'ShareRoleArn';
const GUARD_IMAGE: CommonShareResourcePropertyKey = 'GuardImage';
const DELETE_IMAGE: CommonShareResourcePropertyKey = 'DeleteImage';
const FORCE_UNSHARE: CommonShareResourcePropertyKey = 'ForceUnshare';
const TAKE_OVER: CommonShareResourcePropertyKey = 'TakeOverExistingShares';

/** Strict (Create, Update) refuses anything off; lenient (Delete, the "before" side of an Update) keeps what is well-formed. */
export type ReadMode = 'strict' | 'lenient';

/** The deletion-guard and take-over flags every resource type carries, all off by default. */
export interface CommonShareFlags {
  readonly guardImage: boolean;
  readonly deleteImage: boolean;
  readonly forceUnshare: boolean;
  readonly takeOver: boolean;
}

/** Reads the properties of one resource type `P` (an interface of the contract). */
export class PropertyReader<P extends ShareResourceProperties> {
  /** Every problem found so far, in reading order. */
  public readonly problems: string[] = [];

  constructor(private readonly raw: Record<string, unknown>, allowedKeys: ReadonlyArray<keyof P & string>) {
    const allowed: readonly string[] = allowedKeys;
    const unknownKeys = Object.keys(raw).filter((k) => !allowed.includes(k));
    if (unknownKeys.length > 0) {
      // A key is named as is, unless it is too long for a one-sentence message.
      const named = unknownKeys.map((k) => (k.length > MAX_KEY_SHOWN ? show(k) : k));
      this.problems.push(`unknown properties ${summarize(named)} (the handler and the construct are from different versions?)`);
    }
  }

  /** A property checked by `check` (which returns a problem or undefined). */
  public check(problem: string | undefined): void {
    if (problem) this.problems.push(problem);
  }

  /** The checks every resource type makes alike: its image id (by `checkImageId`) and the share's role ARN. */
  public checkImageAndRole(checkImageId: (value: unknown) => string | undefined): void {
    this.check(checkImageId(this.raw[IMAGE_ID]));
    this.check(checkShareRoleArn(this.raw[SHARE_ROLE_ARN]));
  }

  /** A list of recipients of one kind: well-formed ones, de-duplicated in order; each bad one is a problem. */
  public list(key: ListPropertyKey<P>, kind: RecipientKind): string[] {
    const value = this.raw[key];
    if (value === undefined || value === null || value === '') return [];
    if (!Array.isArray(value)) {
      this.problems.push(`${key} must be a list, got ${show(value)}`);
      return [];
    }
    const good: string[] = [];
    for (const item of value) {
      const p = checkRecipient(kind, item);
      if (p) this.problems.push(`${key}: ${p}`);
      else good.push(item as string);
    }
    return unique(good);
  }

  /** A 'true' / 'false' flag (CloudFormation stringifies booleans). */
  public flag(key: ScalarPropertyKey<P>, byDefault: boolean): boolean {
    return this.flagOf(key, byDefault);
  }

  /** The flags every resource type reads alike: the deletion guard's and take-over's. */
  public commonFlags(): CommonShareFlags {
    return {
      guardImage: this.flagOf(GUARD_IMAGE, false),
      deleteImage: this.flagOf(DELETE_IMAGE, false),
      forceUnshare: this.flagOf(FORCE_UNSHARE, false),
      takeOver: this.flagOf(TAKE_OVER, false),
    };
  }

  /**
   * The end of every reading. Strict: an event without any recipient is refused (named only when
   * nothing else is wrong, since a malformed recipient list also leaves none), and so is any
   * problem (`throwIfInvalid`). Lenient: nothing is refused.
   */
  public finish(mode: ReadMode, construct: string, recipients: number, noRecipient: string): void {
    if (mode === 'lenient') return;
    if (recipients === 0 && this.problems.length === 0) this.check(noRecipient);
    this.throwIfInvalid(construct);
  }

  private flagOf(key: string, byDefault: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined) return byDefault;
    if (!['true', 'false', true, false].includes(v as string)) this.problems.push(`${key} must be "true" or "false", got ${show(v)}`);
    return v === 'true' || v === true;
  }

  /** The image id as given (a string, or whatever arrived, stringified). */
  public imageId(): string {
    const imageId = this.raw[IMAGE_ID];
    return typeof imageId === 'string' ? imageId : String(imageId);
  }

  /**
   * Strict reading: any problem rejects the whole event before anything changes in AWS. The first
   * MAX_PROBLEMS_SHOWN problems are named and the rest counted, so that the sentence always ends
   * with what to do, whatever arrived (thousands of bad entries would otherwise fill the message).
   */
  public throwIfInvalid(construct: string): void {
    if (this.problems.length === 0) return;
    const shown = this.problems.slice(0, MAX_PROBLEMS_SHOWN);
    const more = this.problems.length - shown.length;
    const list = `${shown.join('; ')}${more > 0 ? `; and ${more} more problem${more === 1 ? '' : 's'}` : ''}`;
    throw new ShareError(`${construct} for ${show(this.raw[IMAGE_ID])} was not changed because its properties are invalid: ${list}. Fix the ${construct} construct's props and deploy again.`);
  }
}
