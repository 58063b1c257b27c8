/** SharedWorkspaceImage custom-resource handler: not built yet (issue 4). */
export async function handler(): Promise<never> {
  throw new Error('SharedWorkspaceImage is not implemented yet');
}
