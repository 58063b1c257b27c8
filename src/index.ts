export * from './deletion-guard';
export * from './handler-options';
export * from './shared-ami';
export * from './shared-workspace-image';
