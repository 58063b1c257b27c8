/**
 * Format checks shared by the constructs (at synth time, on literal values) and the handlers (at
 * run time, on whatever CloudFormation delivers). Each returns an error sentence or undefined.
 */

/** AWS's quota: one AMI can be shared with at most this many accounts, organizations and OUs. */
export const MAX_AMI_RECIPIENTS = 1000;

export const ACCOUNT_ID = /^\d{12}$/;
export const AMI_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
export const WORKSPACE_IMAGE_ID = /^wsi-[0-9a-z]{9,63}$/;
export const ORGANIZATION_ARN = /^arn:aws[a-z-]*:organizations::\d{12}:organization\/o-[a-z0-9]{10,32}$/;
/** A share role: `arn:<partition>:iam::<account>:role/cdk-shared-images/<region>/<stack>/<type>/<name>`. */
export const SHARE_ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/cdk-shared-images\/[\x21-\x7e]{1,480}\/[\w+=,.@-]{1,64}$/;
export const ORGANIZATIONAL_UNIT_ARN = /^arn:aws[a-z-]*:organizations::\d{12}:ou\/o-[a-z0-9]{10,32}\/ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;

/** A kind of recipient, with its format and a hint for a user who got it wrong. */
export interface RecipientKind {
  readonly label: string;
  readonly pattern: RegExp;
  readonly example: string;
}

export const ACCOUNT: RecipientKind = {
  label: 'account id', pattern: ACCOUNT_ID, example: '12 digits, e.g. 111122223333',
};
export const ORGANIZATION: RecipientKind = {
  label: 'organization ARN', pattern: ORGANIZATION_ARN, example: 'arn:aws:organizations::111122223333:organization/o-exampleorgid',
};
export const ORGANIZATIONAL_UNIT: RecipientKind = {
  label: 'organizational unit ARN', pattern: ORGANIZATIONAL_UNIT_ARN, example: 'arn:aws:organizations::111122223333:ou/o-exampleorgid/ou-ab12-cdef3456',
};

export function checkAmiId(value: unknown): string | undefined {
  if (typeof value === 'string' && AMI_ID.test(value)) return undefined;
  return `imageId ${show(value)} is not an AMI id: expected "ami-" followed by 8 or 17 lowercase hex digits`;
}

export function checkWorkspaceImageId(value: unknown): string | undefined {
  if (typeof value === 'string' && WORKSPACE_IMAGE_ID.test(value)) return undefined;
  return `imageId ${show(value)} is not a WorkSpaces image id: expected "wsi-" followed by 9 to 63 of [0-9a-z]`;
}

/** The optional `ShareRoleArn` property: absent, or the ARN of a share role. */
export function checkShareRoleArn(value: unknown): string | undefined {
  if (value === undefined || (typeof value === 'string' && SHARE_ROLE_ARN.test(value))) return undefined;
  return `ShareRoleArn ${show(value)} is not the ARN of a share role (arn:<partition>:iam::<account>:role/cdk-shared-images/.../<name>)`;
}

export function checkRecipient(kind: RecipientKind, value: unknown): string | undefined {
  if (typeof value === 'string' && kind.pattern.test(value)) return undefined;
  return `${show(value)} is not a valid ${kind.label} (${kind.example})`;
}

/** Order-preserving de-duplication. */
export function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** A value quoted for an error message, cut short so a message stays one readable sentence. */
export function show(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : safeJson(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
