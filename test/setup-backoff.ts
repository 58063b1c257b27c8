/**
 * Every jest test runs the handlers with a millisecond backoff: a wait for AWS to catch up (a new
 * KMS grant listed, a snapshot no longer in use) costs milliseconds, not seconds. The strict test
 * AWS's consistency windows are set well below what these schedules wait in all (see
 * test/emulator/strict.ts).
 */
import { backoff } from '../lambda/common/retry';

backoff.baseMs = 2;
backoff.maxDelayMs = 200;
