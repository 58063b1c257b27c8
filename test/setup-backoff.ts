/**
 * Every jest test runs the handlers with a millisecond backoff (and a release note as fresh as
 * the strict test AWS's consistency window, see lambda/common/ownership.ts): a wait for AWS to catch up (a new
 * KMS grant listed, a snapshot no longer in use) costs milliseconds, not seconds. The strict test
 * AWS's consistency windows are set well below what these schedules wait in all (see
 * `startMoto` in test/emulator/moto.ts and test/emulator/strict_aws.py).
 */
import { freshness } from '../lambda/common/ownership';
import { backoff } from '../lambda/common/retry';

backoff.baseMs = 2;
backoff.maxDelayMs = 200;
// A release note is trusted over a read for a second: the strict test AWS's reads lag 40 ms after
// a revoke, which comes a few milliseconds after the note is written.
freshness.ms = 1000;
