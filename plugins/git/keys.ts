import type { KeySpec } from '../../src/config/schema.js';

export const keys: Record<string, KeySpec> = {
  repo: { type: 'string', sameAcrossRoles: true, urlSecret: true, description: 'Repository the hosts clone from (git@..., https://..., or a path on the host).' },
  branch: { type: 'string', default: 'main', sameAcrossRoles: true, description: 'Branch, tag or commit to deploy.' },
  git_archive_tree: { type: 'string', sameAcrossRoles: true, description: 'Deploy only this subdirectory of the repository (Fapistrano).' },
};
