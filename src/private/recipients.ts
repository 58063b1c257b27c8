import { Annotations, Fn, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { checkRecipient, RecipientKind, unique } from './validation';

/**
 * One prop's recipients (accounts, organization ARNs or OU ARNs) as a construct collects them,
 * token-aware (README, "Tokens"):
 *
 * - a literal value is checked at synth time (a clear error naming the construct and the prop),
 *   and a repeated one is shared once, with a warning;
 * - a string token (a parameter's `valueAsString`, an attribute) is kept as is;
 * - a list token (a `CommaDelimitedList` parameter's `valueAsList`, an `Fn.split`) is kept whole:
 *   its length is unknown until deploy time, and CloudFormation joins it into the property.
 *
 * Tokens are checked at deploy time, by the handler's property check, before any AWS call.
 */
export class RecipientList {
  /** Literal values and string tokens, in the order given (repeats included). */
  private readonly items: string[] = [];
  /** List tokens, each kept whole. */
  private readonly lists: string[][] = [];

  constructor(private readonly owner: IConstruct, private readonly kind: RecipientKind, private readonly prop: string) {}

  /** Adds values; a literal that is not a valid recipient throws, naming the construct and the prop. */
  public add(values: string[]): void {
    if (Token.isUnresolved(values)) {
      this.lists.push(values);
      return;
    }
    for (const v of values) {
      if (!Token.isUnresolved(v)) {
        const problem = checkRecipient(this.kind, v);
        if (problem) throw new Error(`${this.owner.node.path}: ${this.prop}: ${problem}`);
        if (this.items.includes(v)) {
          Annotations.of(this.owner).addWarningV2(`cdk-shared-images:duplicate-${this.prop}`, `${this.prop}: ${v} is listed more than once; it is shared once.`);
        }
      }
      this.items.push(v);
    }
  }

  /** No recipient at all, literal or token. */
  public get isEmpty(): boolean {
    return this.items.length === 0 && this.lists.length === 0;
  }

  /** Every recipient is a literal, so `literals` is the whole list. */
  public get allLiteral(): boolean {
    return this.lists.length === 0 && this.items.every((v) => !Token.isUnresolved(v));
  }

  /** The distinct literal values and string tokens (list tokens left out). */
  public get known(): string[] {
    return unique(this.items);
  }

  /**
   * The custom-resource property: the distinct values, with list tokens joined in by
   * CloudFormation (`Fn::Split` of an `Fn::Join`). A lone list token is passed as it is.
   */
  public toProperty(): string[] {
    const items = unique(this.items);
    if (this.lists.length === 0) return items;
    if (items.length === 0 && this.lists.length === 1) return this.lists[0];
    return Fn.split(',', Fn.join(',', [...items, ...this.lists.map((l) => Fn.join(',', l))]));
  }
}
