/**
 * Every Parameter Store call of the record of ownership (./ownership), and nothing else. One
 * parameter per resource and image: `/cdk-shared-images/claims/<image id>/<claim id>`.
 */
import { DeleteParameterCommand, GetParametersByPathCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { awsErrorCode } from './aws-errors-adapter';
import { Claim, claimsPath, decodeClaim, encodeClaim, MAX_CLAIM_VALUE } from './ownership';

/** Retries with backoff survive throttling and 5xx. */
const MAX_ATTEMPTS = 8;

let client: SSMClient | undefined;
function ssm(): SSMClient {
  client ??= new SSMClient({ maxAttempts: MAX_ATTEMPTS });
  return client;
}

/** A new client per invocation (see the EC2 adapter's startInvocation for why). */
export function startInvocation(): void {
  client?.destroy();
  client = undefined;
}

/** Every claim on an image (all pages; 10 parameters a page). Values this library did not write are skipped. */
export async function readClaims(imageId: string): Promise<Claim[]> {
  const claims: Claim[] = [];
  let token: string | undefined;
  do {
    const out = await ssm().send(new GetParametersByPathCommand({ Path: claimsPath(imageId), Recursive: false, MaxResults: 10, NextToken: token }));
    for (const p of out.Parameters ?? []) {
      const claimId = (p.Name ?? '').split('/').pop() ?? '';
      const claim = p.Value ? decodeClaim(claimId, p.Value) : undefined;
      if (claim) claims.push(claim);
    }
    token = out.NextToken || undefined;
  } while (token);
  return claims;
}

/** Writes this resource's claim (the intelligent tier: standard up to 4 KB, advanced up to 8 KB). */
export async function writeClaim(imageId: string, claim: Claim): Promise<void> {
  const value = encodeClaim(claim);
  if (value.length > MAX_CLAIM_VALUE) {
    throw new Error(`the record of the shares of ${imageId} held by ${claim.stack}/${claim.resource} needs ${value.length} characters, more than Parameter Store's ${MAX_CLAIM_VALUE}`);
  }
  await ssm().send(new PutParameterCommand({
    Name: `${claimsPath(imageId)}/${claim.claimId}`,
    Value: value,
    Type: 'String',
    Overwrite: true,
    Tier: 'Intelligent-Tiering',
    Description: `cdk-shared-images: shares of ${imageId} held by ${claim.stack}/${claim.resource}`.slice(0, 1024),
  }));
}

/** Deletes this resource's claim; one already gone counts as deleted. */
export async function deleteClaim(imageId: string, claimId: string): Promise<void> {
  try {
    await ssm().send(new DeleteParameterCommand({ Name: `${claimsPath(imageId)}/${claimId}` }));
  } catch (err) {
    if (awsErrorCode(err) === 'ParameterNotFound') return;
    throw err;
  }
}
