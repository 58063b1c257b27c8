export * from './shared-ami';
