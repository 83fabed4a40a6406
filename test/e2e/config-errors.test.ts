// Malformed and tricky deploy.yml files through the real CLI: every configuration error exits 2
// with one line on stderr that says file:line:col and the key path, prints nothing on stdout, shows
// no stack trace and contacts no host (the hosts are a loopback listener that counts the
// connections made to it). The valid-but-tricky files resolve to the values a user expects.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fap, type FapResult } from '../helpers.js';

/** A deploy.yml written line by line, so the expected positions can be read off the case. */
const lines = (...l: string[]) => l.join('\n') + '\n';

/** The host of every case: it counts the connections fap makes to it and drops each at once. */
let contacts = 0;
const sentinel = createServer((socket) => {
  contacts++;
  socket.destroy();
});
await new Promise<void>((listening) => sentinel.listen(0, '127.0.0.1', listening));
sentinel.unref();
const HOST = `127.0.0.1:${(sentinel.address() as AddressInfo).port}`;

/** Runs a case's fap and says whether it connected to the host. */
async function contacted(r: Promise<FapResult>): Promise<{ r: FapResult; connections: number }> {
  const before = contacts;
  const result = await r;
  await new Promise((tick) => setImmediate(tick)); // a connection accepted as fap exited is counted
  return { r: result, connections: contacts - before };
}

const HOSTS = `      hosts: [${HOST}]`;
/** app_name + repo, then the production/web role on an unreachable host (lines 3-6). */
const WEB = ['app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', HOSTS];

interface ErrorCase {
  name: string;
  yaml: string;
  /** command and positionals; default config production web */
  cmd?: string[];
  sets?: string[];
  env?: NodeJS.ProcessEnv;
  /** other files next to deploy.yml */
  files?: Record<string, string>;
  /** [line, col] of the error, or '--set' for an error in a --set option */
  at: [number, number] | '--set';
  /** the key path the message names; omitted where the file has no key to name */
  keyPath?: string;
  message: RegExp;
  /** text that must not reach stdout or stderr (secrets) */
  absent?: string[];
}

const cases: ErrorCase[] = [
  // --- YAML syntax --------------------------------------------------------------------------
  {
    name: 'unclosed double quote: points at the opening quote',
    yaml: lines('app_name: "shop', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [1, 11],
    keyPath: 'app_name',
    message: /YAML syntax: the " opened here \(app_name\) is never closed$/,
  },
  {
    name: 'unclosed single quote inside a role',
    yaml: lines(...WEB, "      branch: 'main"),
    at: [7, 15],
    keyPath: 'stage_role_configs.production.web.branch',
    message: /YAML syntax: the ' opened here .* is never closed$/,
  },
  {
    name: 'bad indentation: a key indented less than its siblings',
    yaml: lines('app_name: shop', 'stage_role_configs:', '  production:', '    web:', HOSTS, '     keep_releases: 3'),
    at: [6, 1],
    message: /YAML syntax \(indentation\?\): All mapping items must start at the same column/,
  },
  {
    name: 'tab indentation',
    yaml: lines('app_name: shop', 'stage_role_configs:', '\tproduction:', '    web:', HOSTS),
    at: [3, 1],
    message: /YAML syntax: Tabs are not allowed as indentation/,
  },
  {
    name: 'unclosed flow sequence: points at the [',
    yaml: lines('app_name: shop', 'stage_role_configs:', '  production:', '    web:', `      hosts: [${HOST}`),
    at: [5, 14],
    keyPath: 'stage_role_configs.production.web.hosts',
    message: /YAML syntax: the \[ opened here .* is never closed with \]$/,
  },
  {
    name: 'unclosed flow sequence followed by more keys',
    yaml: lines('app_name: shop', 'plugins: [git', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [2, 10],
    keyPath: 'plugins',
    message: /the \[ opened here \(plugins\) is never closed with \]/,
  },
  {
    name: 'unclosed flow map',
    yaml: lines('app_name: shop', 'ssh: {host_key_checking: off', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [2, 6],
    keyPath: 'ssh',
    message: /the \{ opened here \(ssh\) is never closed with \}/,
  },
  {
    name: 'duplicate key at the top level',
    yaml: lines('app_name: shop', 'keep_releases: 3', 'app_name: other', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 1],
    keyPath: 'app_name',
    message: /duplicate key: app_name is already set above/,
  },
  {
    name: 'duplicate key in a role',
    yaml: lines(...WEB, '      keep_releases: 3', '      keep_releases: 4'),
    at: [8, 7],
    keyPath: 'stage_role_configs.production.web.keep_releases',
    message: /duplicate key: stage_role_configs\.production\.web\.keep_releases is already set above/,
  },
  {
    name: 'duplicate environment variable',
    yaml: lines('app_name: shop', 'environment:', '  A: 1', '  A: 2', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [4, 3],
    keyPath: 'environment.A',
    message: /duplicate key: environment\.A/,
  },
  {
    name: 'alias of an anchor that does not exist (was a stack trace)',
    yaml: lines(...WEB, '      linked_dirs: [log, *media]'),
    at: [7, 26],
    keyPath: 'stage_role_configs.production.web.linked_dirs[1]',
    message: /unknown alias \*media \(define the anchor &media before it\)/,
  },
  {
    name: 'merge key whose source is not a map',
    yaml: lines(`x-hosts: &h [${HOST}]`, 'app_name: shop', 'stage_role_configs:', '  production:', '    web:', '      <<: *h'),
    at: [6, 7],
    keyPath: 'stage_role_configs.production.web.<<',
    message: /Merge sources must be maps/,
  },

  // --- the shape of the file ------------------------------------------------------------------
  { name: 'empty file', yaml: '', at: [1, 1], message: /the file is empty \(run `fap init`/ },
  { name: 'only comments', yaml: lines('# app_name: shop', '# nothing else'), at: [1, 1], message: /the file is empty/ },
  { name: 'top level is a list', yaml: lines('- app_name: shop', '- stage_role_configs: {}'), at: [1, 1], message: /the top level must be a map of keys/ },
  { name: 'top level is a scalar', yaml: lines('shop'), at: [1, 1], message: /the top level must be a map of keys/ },
  {
    name: 'missing stage_role_configs',
    yaml: lines('app_name: shop', 'repo: /nowhere'),
    at: [1, 1],
    keyPath: 'stage_role_configs',
    message: /missing "stage_role_configs" \(stage -> role -> hosts\)/,
  },
  {
    name: 'stage_role_configs is a list',
    yaml: lines('app_name: shop', 'stage_role_configs:', '  - production', '  - staging'),
    at: [2, 1],
    keyPath: 'stage_role_configs',
    message: /stage_role_configs: must be a map of stages/,
  },
  {
    name: 'a stage that is a scalar',
    yaml: lines('app_name: shop', 'stage_role_configs:', '  production: web01', '  staging:', '    web:', HOSTS),
    at: [3, 3],
    keyPath: 'stage_role_configs.production',
    message: /a stage must be a map of roles/,
  },
  {
    name: 'a stage left empty',
    yaml: lines('app_name: shop', 'stage_role_configs:', '  production:'),
    at: [3, 3],
    keyPath: 'stage_role_configs.production',
    message: /a stage must be a map of roles/,
  },
  {
    name: 'unknown stage lists the known ones with a suggestion',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', HOSTS, '  staging:', '    web:', HOSTS),
    cmd: ['config', 'prodution', 'web'],
    at: [3, 1],
    keyPath: 'stage_role_configs',
    message: /unknown stage "prodution" \(did you mean "production"\?\); known stages: production, staging$/,
  },
  {
    name: 'unknown role lists the roles of the stage',
    yaml: lines(...WEB, '    worker:', HOSTS),
    cmd: ['deploy', 'production', 'wbe'],
    at: [4, 3],
    keyPath: 'stage_role_configs.production',
    message: /unknown role "wbe" \(did you mean "web"\?\); roles of production: web, worker$/,
  },
  {
    name: 'a role that is a scalar',
    yaml: lines('app_name: shop', 'stage_role_configs:', '  production:', '    web: 3'),
    at: [4, 5],
    keyPath: 'stage_role_configs.production.web',
    message: /unknown key "web"; a role must be a map \(hosts: \[\.\.\.\]\)/,
  },
  {
    name: 'a stage with stage-wide keys but no roles',
    yaml: lines('app_name: shop', 'stage_role_configs:', '  production:', '    branch: main'),
    cmd: ['deploy', 'production'],
    at: [3, 3],
    keyPath: 'stage_role_configs.production',
    message: /stage "production" has no roles/,
  },

  // --- misspelt keys --------------------------------------------------------------------------
  {
    name: 'misspelt top-level key',
    yaml: lines('app_name: shop', 'keep_relases: 3', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['deploy', 'production', 'web'],
    at: [2, 1],
    keyPath: 'keep_relases',
    message: /unknown key "keep_relases" \(did you mean "keep_releases"\?\)$/,
  },
  {
    name: 'misspelt stage-wide key',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    brnch: develop', '    web:', HOSTS),
    at: [5, 5],
    keyPath: 'stage_role_configs.production.brnch',
    message: /unknown key "brnch" \(did you mean "branch"\?\)/,
  },
  {
    name: 'misspelt role key',
    yaml: lines(...WEB, '      linked_file: [configs/app.conf]'),
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.linked_file',
    message: /unknown key "linked_file" \(did you mean "linked_files"\?\)$/,
  },
  {
    name: 'misspelt nested ssh key',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'ssh:', '  host_key_cheking: strict', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [4, 3],
    keyPath: 'ssh.host_key_cheking',
    message: /unknown key "ssh\.host_key_cheking" \(did you mean "host_key_checking"\?\)$/,
  },
  {
    name: 'misspelt key of a bundled plugin',
    yaml: lines(...WEB, '      supervisor_programm: shop-web'),
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.supervisor_programm',
    message: /unknown key "supervisor_programm" \(did you mean "supervisor_program"\?\)$/,
  },

  // --- wrong types ----------------------------------------------------------------------------
  {
    name: 'keep_releases: five',
    yaml: lines(...WEB, '      keep_releases: five'),
    cmd: ['deploy', 'production', 'web'],
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.keep_releases',
    message: /expected a whole number, got a string "five"$/,
  },
  {
    name: 'keep_releases: 0',
    yaml: lines(...WEB, '      keep_releases: 0'),
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.keep_releases',
    message: /must be at least 1, got 0$/,
  },
  {
    name: 'keep_releases: 2.5',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'keep_releases: 2.5', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 1],
    keyPath: 'keep_releases',
    message: /expected a whole number, got a number 2\.5$/,
  },
  {
    name: 'linked_files is a number',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'linked_files: 3', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 1],
    keyPath: 'linked_files',
    message: /expected a list, got a number$/,
  },
  {
    // (a number item is the file of that name: 3 is "3", as written)
    name: 'linked_files with a boolean item: points at the item',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'linked_files: [configs/app.conf, true]', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 34],
    keyPath: 'linked_files[1]',
    message: /expected a list of strings, got an item that is a boolean; quote it for the text: "true"$/,
  },
  {
    name: 'environment is a list',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'environment: [A=1, B=2]', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 1],
    keyPath: 'environment',
    message: /expected a map of NAME: value, got a list$/,
  },
  {
    name: 'environment variable name starting with a digit',
    yaml: lines(...WEB, '      environment:', '        1BAD: x'),
    at: [8, 9],
    keyPath: 'stage_role_configs.production.web.environment.1BAD',
    message: /"1BAD" is not a valid environment variable name$/,
  },
  {
    name: 'environment variable name with a dash',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'environment:', '  OK: 1', '  A-B: x', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [5, 3],
    keyPath: 'environment.A-B',
    message: /"A-B" is not a valid environment variable name$/,
  },
  {
    name: 'environment value that is a map',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'environment:', '  DATABASE:', '    host: db', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [4, 3],
    keyPath: 'environment.DATABASE',
    message: /expected a scalar value, got a map$/,
  },
  {
    name: 'plugins is a map',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'plugins: {git: 1}', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 1],
    keyPath: 'plugins',
    message: /expected a list, got a map$/,
  },
  {
    name: 'ssh.host_key_checking: maybe lists the choices',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'ssh:', '  host_key_checking: maybe', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [4, 3],
    keyPath: 'ssh.host_key_checking',
    message: /"maybe" is not one of strict, accept-new, off$/,
  },
  {
    name: 'ssh.host_key_checking misspelt: did you mean',
    yaml: lines(...WEB, '      ssh: {host_key_checking: acept-new}'),
    at: [7, 13],
    keyPath: 'stage_role_configs.production.web.ssh.host_key_checking',
    message: /"acept-new" is not one of strict, accept-new, off \(did you mean "accept-new"\?\)$/,
  },
  {
    name: 'ssh.connect_timeout: soon',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'ssh: {connect_timeout: soon}', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 7],
    keyPath: 'ssh.connect_timeout',
    message: /expected a whole number, got a string "soon"$/,
  },
  {
    name: 'ssh is a scalar',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'ssh: strict', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 1],
    keyPath: 'ssh',
    message: /expected a map, got a string$/,
  },
  {
    name: 'show_output: "yes" (a string, not a boolean)',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    show_output: "yes"', '    web:', HOSTS),
    at: [5, 5],
    keyPath: 'stage_role_configs.production.show_output',
    message: /expected true or false, got a string "yes"$/,
  },

  {
    name: 'requires: a range that is not semver (fap check)',
    yaml: lines('app_name: shop', 'requires:', '  git: ">=2.20"', '  python3: three', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['check', 'production', 'web'],
    at: [4, 3],
    keyPath: 'requires.python3',
    message: /"three" is not a semver range/,
  },
  {
    name: 'requires in a role over the top one: the role entry is blamed',
    yaml: lines('app_name: shop', 'requires: {git: "*"}', 'stage_role_configs:', '  production:', '    web:', HOSTS, '      requires:', '        tar: "~~1"'),
    cmd: ['check', 'production', 'web'],
    at: [8, 9],
    keyPath: 'stage_role_configs.production.web.requires.tar',
    message: /"~~1" is not a semver range/,
  },
  {
    name: 'requires: a bad range given with --set',
    yaml: lines(...WEB),
    sets: ['requires.git=>=2 <'],
    cmd: ['check', 'production', 'web'],
    at: '--set',
    keyPath: 'requires.git',
    message: /">=2 <" is not a semver range/,
  },

  // --- hosts ----------------------------------------------------------------------------------
  {
    name: 'port out of range',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', `      hosts: [${HOST}, 127.0.0.1:70000]`),
    cmd: ['deploy', 'production', 'web'],
    at: [6, 17 + HOST.length],
    keyPath: 'stage_role_configs.production.web.hosts[1]',
    message: /port 70000 is out of range 1-65535$/,
  },
  {
    name: 'port that is not a number',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', '      hosts:', '        - deploy@127.0.0.1:abc'),
    at: [7, 11],
    keyPath: 'stage_role_configs.production.web.hosts[0]',
    message: /port "abc" is not a number$/,
  },
  {
    name: 'bare IPv6 address',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', '      hosts:', '        - 2001:db8::1'),
    at: [7, 11],
    keyPath: 'stage_role_configs.production.web.hosts[0]',
    message: /IPv6 address "2001:db8::1" must be written as \[2001:db8::1\] or \[2001:db8::1\]:port$/,
  },
  {
    name: 'unknown key in a host map',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', '      hosts:', `        - ${HOST}`, '        - {host: app-web02, usr: deploy}'),
    at: [8, 11],
    keyPath: 'stage_role_configs.production.web.hosts[1]',
    message: /unknown host key "usr" \(expected host, user, port\)$/,
  },
  {
    name: 'host map without host',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', '      hosts:', '        - user: deploy', '          port: 2222'),
    at: [7, 11],
    keyPath: 'stage_role_configs.production.web.hosts[0]',
    message: /a host map needs "host"$/,
  },
  {
    name: 'empty host string',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', `      hosts: [${HOST}, ""]`),
    at: [6, 17 + HOST.length],
    keyPath: 'stage_role_configs.production.web.hosts[1]',
    message: /empty host$/,
  },
  {
    name: 'a host that is a list',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', `      hosts: [[${HOST}]]`),
    at: [6, 15],
    keyPath: 'stage_role_configs.production.web.hosts[0]',
    message: /a host must be a string or a map, not a list$/,
  },
  {
    name: 'a role with no hosts: points at the role',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', '      keep_releases: 3'),
    cmd: ['deploy', 'production', 'web'],
    at: [5, 5],
    keyPath: 'stage_role_configs.production.web.hosts',
    message: /role "web" of production has no hosts$/,
  },
  {
    name: 'a role with an empty host list',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', '      hosts: []'),
    at: [6, 7],
    keyPath: 'stage_role_configs.production.web.hosts',
    message: /role "web" of production has no hosts$/,
  },

  // --- %(key)s interpolation ------------------------------------------------------------------
  {
    name: 'unknown %(key)s with a suggestion',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'path: /srv/%(app_nam)s', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['deploy', 'production', 'web'],
    at: [3, 1],
    keyPath: 'path',
    message: /unknown key %\(app_nam\)s \(did you mean "app_name"\?\)$/,
  },
  {
    name: 'interpolation cycle between two keys shows the cycle',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'user: "%(path)s"', 'path: /srv/%(user)s', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [4, 1],
    keyPath: 'path',
    message: /interpolation cycle: path -> user -> path$/,
  },
  {
    name: 'a key that refers to itself',
    yaml: lines(...WEB, '      branch: "release-%(branch)s"'),
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.branch',
    message: /interpolation cycle: branch -> branch$/,
  },
  {
    name: '%(environment)s used as a scalar',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'environment: {A: "1"}', 'path: /srv/%(environment)s', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [4, 1],
    keyPath: 'path',
    message: /%\(environment\)s is a map, not a scalar$/,
  },
  {
    name: '%(hosts)s used as a scalar',
    yaml: lines(...WEB, '      supervisor_program: "%(hosts)s"'),
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.supervisor_program',
    message: /%\(hosts\)s is a list, not a scalar$/,
  },

  // --- ${VAR} from the environment -------------------------------------------------------------
  {
    name: '${MISSING:?message} stops deploy before it connects',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'environment:', '  SECRET_KEY: ${FAP_CFGERR_MISSING_A:?export FAP_CFGERR_MISSING_A first}', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['deploy', 'production', 'web'],
    at: [4, 3],
    keyPath: 'environment.SECRET_KEY',
    message: /: export FAP_CFGERR_MISSING_A first$/,
  },
  {
    name: 'plain ${MISSING} stops deploy before it connects',
    yaml: lines(...WEB, '      environment:', '        DATABASE_URL: ${FAP_CFGERR_MISSING_B}'),
    cmd: ['deploy', 'production', 'web'],
    at: [8, 9],
    keyPath: 'stage_role_configs.production.web.environment.DATABASE_URL',
    message: /FAP_CFGERR_MISSING_B is not set \(write \$\{FAP_CFGERR_MISSING_B:-\} to allow it empty\)$/,
  },
  {
    name: '${VAR:-} with an empty default is still type-checked',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'keep_releases: ${FAP_CFGERR_MISSING_C:-}', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 1],
    keyPath: 'keep_releases',
    message: /expected a whole number, got a string ""$/,
  },
  {
    name: 'a secret in an invalid value is redacted from the error',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'path: ${FAP_CFGERR_SECRET_PATH}', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    env: { FAP_CFGERR_SECRET_PATH: 'srv/s3cr3t-path-value' },
    cmd: ['deploy', 'production', 'web'],
    at: [3, 1],
    keyPath: 'path',
    message: /path must be absolute, got "\*\*\*"$/,
    absent: ['s3cr3t-path-value'],
  },

  // --- paths ----------------------------------------------------------------------------------
  {
    name: 'path not absolute',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'path: srv/%(app_name)s', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['deploy', 'production', 'web'],
    at: [3, 1],
    keyPath: 'path',
    message: /path must be absolute, got "srv\/shop"$/,
  },
  {
    name: 'deploy_to (the alias) not absolute: names the key as written',
    yaml: lines(...WEB, '      deploy_to: www/shop'),
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.deploy_to',
    message: /path must be absolute, got "www\/shop"$/,
  },
  {
    name: 'linked_files with ..',
    yaml: lines(...WEB, '      linked_files: [configs/../../etc/passwd]'),
    cmd: ['deploy', 'production', 'web'],
    at: [7, 22],
    keyPath: 'stage_role_configs.production.web.linked_files[0]',
    message: /"configs\/\.\.\/\.\.\/etc\/passwd" must be a relative path inside shared\//,
  },
  {
    name: 'absolute linked file',
    yaml: lines(...WEB, '      linked_files:', '        - configs/app.conf', '        - /etc/app.conf'),
    at: [9, 11],
    keyPath: 'stage_role_configs.production.web.linked_files[1]',
    message: /"\/etc\/app\.conf" must be a relative path inside shared\/ \(no leading \//,
  },
  {
    name: 'linked_dirs with an empty segment',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'linked_dirs: [log, media//thumbs]', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [3, 20],
    keyPath: 'linked_dirs[1]',
    message: /"media\/\/thumbs" must be a relative path inside shared\//,
  },

  // --- plugins --------------------------------------------------------------------------------
  {
    name: 'unknown plugin name: points at the name',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'plugins: [git, supervisorctrl]', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['deploy', 'production', 'web'],
    at: [3, 16],
    keyPath: 'plugins[1]',
    message: /plugin "supervisorctrl" could not be loaded: .*bundled plugins: git, curl, virtualenv, supervisorctl, .*virtualenvwrapper/,
  },
  {
    name: 'unknown Fapistrano-style plugin name',
    yaml: lines(...WEB, '      plugins: [fapistrano.gti]'),
    at: [7, 17],
    keyPath: 'stage_role_configs.production.web.plugins[0]',
    message: /plugin "fapistrano\.gti" could not be loaded: .* \(did you mean "git"\?\) \(bundled plugins: git, /,
  },
  {
    name: 'local plugin path that does not exist',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'plugins:', '  - git', '  - ./plugins/missing.js', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [5, 5],
    keyPath: 'plugins[1]',
    message: /plugin "\.\/plugins\/missing\.js" could not be loaded: no such file .*\/plugins\/missing\.js/,
  },
  {
    name: 'local plugin that exports nothing useful',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'plugins: [git, ./useless.js]', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    files: { 'useless.js': 'module.exports = {};\n' },
    cmd: ['deploy', 'production', 'web'],
    at: [3, 16],
    keyPath: 'plugins[1]',
    message: /plugin "\.\/useless\.js" does not export a plugin \(\{ name, on: \{ \.\.\. \} \}\) as its default export$/,
  },
  {
    name: 'the git plugin without repo: points at the role',
    yaml: lines('app_name: shop', 'plugins: [git]', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['deploy', 'production', 'web'],
    at: [5, 5],
    keyPath: 'stage_role_configs.production.web.repo',
    message: /the git plugin needs "repo"$/,
  },

  // --- app_name -------------------------------------------------------------------------------
  {
    name: 'app_name missing',
    yaml: lines('repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    at: [1, 1],
    keyPath: 'app_name',
    message: /app_name is required/,
  },
  {
    name: 'app_name emptied in a role: points at that key',
    yaml: lines(...WEB, '      app_name: ""'),
    at: [7, 7],
    keyPath: 'stage_role_configs.production.web.app_name',
    message: /app_name is required/,
  },

  // --- --set ----------------------------------------------------------------------------------
  { name: '--set without =', yaml: lines(...WEB), sets: ['keep_releases'], at: '--set', keyPath: 'keep_releases', message: /^fap: --set keep_releases: expected KEY=VALUE$/ },
  {
    name: '--set of an unknown key',
    yaml: lines(...WEB),
    sets: ['keep_relases=3'],
    cmd: ['deploy', 'production', 'web'],
    at: '--set',
    keyPath: 'keep_relases',
    message: /unknown key "keep_relases" \(did you mean "keep_releases"\?\)$/,
  },
  {
    name: '--set dotted into a key that is not a map',
    yaml: lines(...WEB),
    sets: ['keep_releases.x=1'],
    at: '--set',
    keyPath: 'keep_releases',
    message: /"keep_releases" is not a map, so "x" cannot be set in it$/,
  },
  { name: '--set with a value of the wrong type', yaml: lines(...WEB), sets: ['keep_releases=abc'], at: '--set', keyPath: 'keep_releases', message: /^fap: --set: keep_releases: expected a whole number, got a string "abc"$/ },
  {
    name: '--set of a misspelt nested key',
    yaml: lines(...WEB),
    sets: ['ssh.host_key_cheking=off'],
    at: '--set',
    keyPath: 'ssh.host_key_cheking',
    message: /unknown key "ssh\.host_key_cheking" \(did you mean "host_key_checking"\?\)$/,
  },
  { name: '--set hosts with a bad port', yaml: lines(...WEB), sets: ['hosts=127.0.0.1:99999'], at: '--set', keyPath: 'hosts', message: /^fap: --set: hosts: port 99999 is out of range 1-65535$/ },
  {
    name: '--set plugins naming an unknown plugin (was a stack trace)',
    yaml: lines(...WEB),
    sets: ['plugins=[git, nope]'],
    cmd: ['deploy', 'production', 'web'],
    at: '--set',
    keyPath: 'plugins',
    message: /^fap: --set: plugins: plugin "nope" could not be loaded/,
  },
  {
    name: '--set path that is not absolute',
    yaml: lines(...WEB),
    sets: ['path=relative/dir'],
    cmd: ['deploy', 'production', 'web'],
    at: '--set',
    keyPath: 'path',
    message: /^fap: --set: path: path must be absolute, got "relative\/dir"$/,
  },
  {
    name: '--set linked_files escaping shared/',
    yaml: lines(...WEB),
    sets: ['linked_files=[../secrets.env]'],
    at: '--set',
    keyPath: 'linked_files[0]',
    message: /^fap: --set: linked_files\[0\]: "\.\.\/secrets\.env" must be a relative path inside shared\//,
  },

  // --- roles sharing a release ----------------------------------------------------------------
  {
    name: 'two roles on one host and path disagree on branch',
    yaml: lines(...WEB, '      branch: main', '    worker:', HOSTS, '      branch: develop'),
    cmd: ['deploy', 'production'],
    at: [10, 7],
    keyPath: 'stage_role_configs.production.worker.branch',
    message: new RegExp(`roles "web" and "worker" both deploy to ${HOST.replace(/\./g, '\\.')}:.* \\(one release\\) but disagree on branch; make them agree or give one its own path$`),
  },
];

interface ValidCase {
  name: string;
  yaml: string;
  cmd?: string[];
  sets?: string[];
  env?: NodeJS.ProcessEnv;
  /** lines (or patterns) stdout must contain */
  stdout: (string | RegExp)[];
  /** a warning stderr must carry (else stderr is empty) */
  warning?: RegExp;
  absent?: string[];
}

const valid: ValidCase[] = [
  {
    name: 'x- anchors with aliases and merge keys',
    yaml: lines(
      'x-defaults: &defaults',
      '  keep_releases: 7',
      '  linked_dirs: [log, media]',
      'x-hosts: &hosts [127.0.0.1:1]',
      'app_name: shop',
      'repo: /nowhere',
      'stage_role_configs:',
      '  production:',
      '    x-note: stage notes are ignored too',
      '    web:',
      '      <<: *defaults',
      '      hosts: *hosts',
      '      linked_dirs: [log]',
    ),
    stdout: [/^keep_releases: 7 # role /m, /^linked_dirs: # role \(.*:13:7\)\n {2}- log\n[a-z]/m, /^# hosts: 127\.0\.0\.1:1$/m],
  },
  {
    name: '%% is a literal % and %(key)s reaches stage, role and shared_path',
    yaml: lines(
      'app_name: shop',
      'repo: /nowhere',
      'path: /srv/%(app_name)s-100%%',
      'environment:',
      '  LOG_DIR: "%(shared_path)s/log"',
      '  WHO: "%(stage)s-%(role)s"',
      '  RATE: "50%%"',
      'stage_role_configs:',
      '  production:',
      '    web:',
      HOSTS,
    ),
    stdout: [/^path: \/srv\/shop-100% # top/m, /^ {2}LOG_DIR: \/srv\/shop-100%\/shared\/log # top/m, /^ {2}WHO: production-web # top/m, /^ {2}RATE: 50% # top/m],
  },
  {
    name: 'deploy_to is path',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'deploy_to: /opt/%(app_name)s', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    stdout: [/^path: \/opt\/shop # top \(.*deploy\.yml:3:1\)$/m, /^# current_path: \/opt\/shop\/current {2}shared_path: \/opt\/shop\/shared/m],
    warning: /deploy\.yml:3: deploy_to is Capistrano's name for path; fap reads it$/,
  },
  {
    name: 'stage-wide keys beat the top level, role keys beat stage-wide keys',
    yaml: lines(
      'app_name: shop',
      'repo: /nowhere',
      'branch: top-branch',
      'keep_releases: 2',
      'stage_role_configs:',
      '  production:',
      '    branch: stage-branch',
      '    keep_releases: 4',
      '    web:',
      HOSTS,
      '      branch: role-branch',
    ),
    stdout: [/^branch: role-branch # role \(.*:11:7\)/m, /^keep_releases: 4 # stage \(.*:8:5\)$/m],
  },
  {
    name: '--set beats every layer, and merges into maps',
    yaml: lines(
      'app_name: shop',
      'repo: /nowhere',
      'keep_releases: 2',
      'ssh: {known_hosts_file: /etc/fap/known_hosts}',
      'stage_role_configs:',
      '  production:',
      '    keep_releases: 3',
      '    web:',
      HOSTS,
      '      keep_releases: 4',
      '      ssh: {host_key_checking: off}',
    ),
    sets: ['keep_releases=9', 'ssh.host_key_checking=accept-new'],
    stdout: [/^keep_releases: 9 # --set$/m, /^ {2}host_key_checking: accept-new # --set$/m, /^ {2}known_hosts_file: \/etc\/fap\/known_hosts # top/m],
  },
  {
    name: 'fapistrano.git and fapistrano.plugins.supervisorctl spellings',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'plugins: [fapistrano.git, fapistrano.plugins.supervisorctl]', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    stdout: [/^git_shallow_clone: 1 # plugin default {2}\[git\]$/m, /^supervisor_program: shop # plugin default {2}\[supervisorctl\]$/m, /^supervisor_conf: configs\/supervisor_production_web\.conf # plugin default/m],
  },
  {
    name: '${VAR:-default} with the variable unset (the default is configuration, shown; valid because it applies)',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'keep_releases: ${FAP_CFGERR_UNSET_KEEP:-3}', 'environment:', '  WORKERS: ${FAP_CFGERR_UNSET_WORKERS:-4}', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    stdout: [/^keep_releases: 3 # top/m, /^ {2}WORKERS: "4" # top/m],
  },
  {
    name: 'IPv6 hosts in brackets, user@host and the host map form',
    yaml: lines(
      'app_name: shop',
      'repo: /nowhere',
      'stage_role_configs:',
      '  production:',
      '    web:',
      '      hosts:',
      '        - "[::1]:2222"',
      '        - deploy@[2001:db8::5]',
      '        - {host: app-job01, user: ops, port: 2200}',
      '        - host: app-web01',
    ),
    stdout: [/^# hosts: \[::1\]:2222, deploy@\[2001:db8::5\], ops@app-job01:2200, app-web01$/m],
  },
  {
    name: 'a key of a bundled plugin that is not enabled is a warning',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'supervisor_program: shop-web', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    warning: /^warning: .*deploy\.yml:3: supervisor_program belongs to the supervisorctl plugin, which is not enabled for production\/web \(plugins: git\)$/,
    stdout: [/^supervisor_program: shop-web # top .* {2}\[supervisorctl\]$/m, /^# warning: .*supervisorctl plugin/m],
  },
  {
    // fap release uses curl in git's place when curl_url is set: its keys are in use, not stray
    name: 'curl_url beside git is no warning (curl stands in for git in fap release)',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'curl_url: https://example.com/shop.tgz', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    stdout: [/^curl_url: https:\/\/example\.com\/shop\.tgz # top .* {2}\[curl\]$/m],
  },
  {
    name: 'secrets are shown as *** and never printed',
    yaml: lines(
      'app_name: shop',
      'repo: /nowhere',
      'environment:',
      '  DB_PASSWORD: hunter2-plain-value',
      '  API_URL: ${FAP_CFGERR_API_URL}',
      '  GREETING: hello',
      'stage_role_configs:',
      '  production:',
      '    web:',
      HOSTS,
      '      environment:',
      '        SESSION_TOKEN: tok-from-the-file',
    ),
    env: { FAP_CFGERR_API_URL: 'https://user:pw-9f8e7d@api.example.com' },
    stdout: [/^ {2}DB_PASSWORD: "\*\*\*" # top/m, /^ {2}API_URL: "\*\*\*" # top/m, /^ {2}SESSION_TOKEN: "\*\*\*" # role/m, /^ {2}GREETING: hello # top/m],
    absent: ['hunter2-plain-value', 'pw-9f8e7d', 'api.example.com', 'tok-from-the-file'],
  },
  {
    name: 'secrets are *** in --json too',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'environment:', '  DB_PASSWORD: hunter2-plain-value', '  API_URL: ${FAP_CFGERR_API_URL}', 'stage_role_configs:', '  production:', '    web:', HOSTS),
    cmd: ['--json', 'config', 'production', 'web'],
    env: { FAP_CFGERR_API_URL: 'https://user:pw-9f8e7d@api.example.com' },
    stdout: ['"DB_PASSWORD":"***"', '"API_URL":"***"', '"event":"config"'],
    absent: ['hunter2-plain-value', 'pw-9f8e7d'],
  },
  {
    name: 'a single host given as a string, role plugins in Fapistrano spelling',
    yaml: lines('app_name: shop', 'repo: /nowhere', 'stage_role_configs:', '  production:', '    web:', '      hosts: deploy@127.0.0.1:1', '      plugins: [fapistrano.plugins.git]'),
    stdout: [/^# hosts: deploy@127\.0\.0\.1:1$/m, /^git_shallow_clone: 1 # plugin default/m],
  },
];

const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, 'no stack trace');

function writeCase(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'fap-cfgerr-'));
  const file = join(dir, 'deploy.yml');
  writeFileSync(file, yaml);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return file;
}

function run(file: string, c: { cmd?: string[]; sets?: string[]; env?: NodeJS.ProcessEnv }): Promise<FapResult> {
  const sets = (c.sets ?? []).flatMap((s) => ['--set', s]);
  return fap(['-f', file, ...sets, ...(c.cmd ?? ['config', 'production', 'web'])], { env: c.env, timeoutMs: 30_000 });
}

describe('malformed deploy.yml: exit 2, one line that says where', () => {
  test('the table is big enough', () => {
    assert.ok(cases.length >= 45, `${cases.length} error cases`);
    assert.ok(valid.length >= 8, `${valid.length} valid cases`);
    assert.equal(new Set([...cases, ...valid].map((c) => c.name)).size, cases.length + valid.length, 'case names are unique');
  });

  for (const c of cases) {
    test(c.name, async () => {
      const file = writeCase(c.yaml, c.files);
      const { r, connections } = await contacted(run(file, c));
      const show = `\n--- stderr:\n${r.stderr}--- stdout:\n${r.stdout}`;
      assert.equal(connections, 0, `no host was contacted${show}`);
      assert.equal(r.code, 2, `exit code${show}`);
      assert.equal(r.stdout, '', `nothing on stdout${show}`);
      noStack(r.stderr);
      const out = r.stderr.replace(/\n$/, '');
      assert.ok(!out.includes('\n'), `one line on stderr${show}`);
      if (c.at === '--set') {
        assert.ok(out.startsWith('fap: --set'), `names --set${show}`);
        assert.ok(!out.includes(file), `does not blame the file${show}`);
      } else {
        assert.ok(out.startsWith(`fap: ${file}:${c.at[0]}:${c.at[1]}: `), `at ${c.at.join(':')}${show}`);
      }
      if (c.keyPath) assert.ok(out.includes(c.keyPath), `names ${c.keyPath}${show}`);
      assert.match(out, c.message);
      for (const s of c.absent ?? []) assert.ok(!r.stderr.includes(s) && !r.stdout.includes(s), `${s} is not printed`);
    });
  }
});

describe('tricky but valid deploy.yml: fap config shows what a user expects', () => {
  for (const c of valid) {
    test(c.name, async () => {
      const file = writeCase(c.yaml);
      const { r, connections } = await contacted(run(file, c));
      const show = `\n--- stderr:\n${r.stderr}--- stdout:\n${r.stdout}`;
      assert.equal(connections, 0, `fap config contacts no host${show}`);
      assert.equal(r.code, 0, `exit code${show}`);
      noStack(r.stderr);
      for (const want of c.stdout) {
        if (typeof want === 'string') assert.ok(r.stdout.includes(want), `stdout has ${want}${show}`);
        else assert.match(r.stdout, want, show);
      }
      if (c.warning) {
        const errLines = r.stderr.split('\n').filter(Boolean);
        assert.ok(errLines.length >= 1 && errLines.every((l) => l.startsWith('warning: ')), `only warnings on stderr${show}`);
        assert.ok(errLines.some((l) => c.warning!.test(l)), `the warning${show}`);
      } else {
        assert.equal(r.stderr, '', `nothing on stderr${show}`);
      }
      for (const s of c.absent ?? []) {
        assert.ok(!r.stdout.includes(s), `${s} is not on stdout`);
        assert.ok(!r.stderr.includes(s), `${s} is not on stderr`);
      }
    });
  }
});

describe('several mistakes in one deploy.yml: every one reported, in file order, then counted', () => {
  const yaml = lines(
    'app_name: shop', // 1
    'keep_relases: 3', // 2
    'repo: /nowhere', // 3
    'environment:', // 4
    '  SECRET_KEY: ${FAP_CFG_T_SECRET:?set FAP_CFG_T_SECRET}', // 5
    'stage_role_configs:', // 6
    '  production:', // 7
    '    web:', // 8
    HOSTS, // 9
    '      keep_releases: 0', // 10
    '    worker:', // 11
    HOSTS, // 12
    '      branch: true', // 13
  );
  test('on stderr: one line each with file:line:col and key path, the count last; exit 2, nothing contacted', async () => {
    const file = writeCase(yaml);
    const { r, connections } = await contacted(fap(['-f', file, '--set', 'shared_writable=maybe', 'deploy', 'production'], { timeoutMs: 30_000 }));
    const show = `\n--- stderr:\n${r.stderr}--- stdout:\n${r.stdout}`;
    assert.equal(connections, 0, show);
    assert.equal(r.code, 2, show);
    assert.equal(r.stdout, '', show);
    noStack(r.stderr);
    assert.equal(
      r.stderr,
      [
        `fap: ${file}:2:1: keep_relases: unknown key "keep_relases" (did you mean "keep_releases"?)`,
        `fap: ${file}:5:3: environment.SECRET_KEY: set FAP_CFG_T_SECRET`,
        `fap: ${file}:10:7: stage_role_configs.production.web.keep_releases: must be at least 1, got 0`,
        `fap: ${file}:13:7: stage_role_configs.production.worker.branch: expected a string, got a boolean; quote it for the text: "true"`,
        'fap: --set: shared_writable: expected true or false, got a string "maybe"',
        'fap: 5 configuration errors',
        '',
      ].join('\n'),
    );
  });
  test('--json: the last line is the result, with every error and its place', async () => {
    const file = writeCase(yaml);
    const r = await fap(['-f', file, '--json', '--set', 'branch=true', 'deploy', 'production'], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { event: string; exitCode: number; error: string; errors: { message: string; file?: string; line?: number; col?: number; keyPath?: string }[] };
    assert.equal(last.event, 'result');
    assert.equal(last.exitCode, 2);
    // --set branch=true wins over the worker's branch: true, so that mistake is --set's
    assert.match(last.error, /^4 configuration errors; the first: /);
    assert.deepEqual(
      last.errors.map((e) => [e.file === file ? 'file' : e.file, e.line, e.col, e.keyPath]),
      [
        ['file', 2, 1, 'keep_relases'],
        ['file', 5, 3, 'environment.SECRET_KEY'],
        ['file', 10, 7, 'stage_role_configs.production.web.keep_releases'],
        ['--set', undefined, undefined, 'branch'],
      ],
    );
    assert.match(last.errors[3].message, /quote it for the text: --set 'branch="true"'$/);
  });
});
