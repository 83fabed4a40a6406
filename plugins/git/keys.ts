import type { KeySpec } from '../../src/signals.js';

export const keys = {
  repo: { type: 'string', sameAcrossRoles: true, urlSecret: true, aliases: ['repo_url'], aliasesFrom: 'Capistrano', description: "Repository the hosts clone from (git@..., https://..., or a path on the host). Also read as repo_url (Capistrano's name)." },
  branch: {
    type: 'string',
    sameAcrossRoles: true,
    description: "Branch, tag or commit to deploy. Unset: the remote's default branch (its HEAD, e.g. main or master), named in the output. A name git refuses as a ref (a control character or space, ~ ^ : ? * [ \\, .., @{; git check-ref-format) is a configuration error.",
  },
  git_shallow_clone: {
    type: 'integer',
    default: 1,
    min: 0,
    // fapistrano-0.9.5 git.py:57 `if env.git_shallow_clone:` — False: a full clone (git.py:61); True reached git as
    // `--depth True` (git.py:58), which git refuses: fap reads it as depth 1
    booleans: { true: 1, false: 0 },
    sameAcrossRoles: true,
    description:
      'Fapistrano: keep the mirror shallow, N commits deep (git clone/fetch --depth N); 0 or false: full history; true: 1. A tag or commit the shallow mirror lacks makes fap fetch the full history once. A mirror that is already full stays full.',
  },
  repo_path: { type: 'string', default: '%(path)s/repo', sameAcrossRoles: true, description: 'Where the mirror of repo lives on the host (Fapistrano). Outside the default, fap never deletes a directory there that is not a git mirror.' },
  git_archive_tree: { type: 'string', sameAcrossRoles: true, description: 'Deploy only this subdirectory of the repository (Fapistrano).' },
} as const satisfies Record<string, KeySpec>;
