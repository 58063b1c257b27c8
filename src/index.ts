export * from './deletion-guard';
export * from './shared-ami';
export * from './shared-workspace-image';
