import { RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';

/**
 * Settings of the custom-resource handler that serves every share of one construct type in a
 * stack (one handler Lambda and one Provider framework per stack and type; README, "Handler
 * settings"). Every construct of that type in the stack must give the same settings (leaving
 * them out means the defaults): different settings are a synth-time error naming both constructs.
 */
export interface ShareHandlerOptions {
  /**
   * How long the handler's and the Provider framework's log groups keep their logs.
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What happens to those log groups when the stack is deleted (or the last share of the type is
   * removed from it). `RemovalPolicy.RETAIN` keeps them, with the logs of the stack's last Deletes.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}
