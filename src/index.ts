export * from './shared-ami';
export * from './shared-workspace-image';
