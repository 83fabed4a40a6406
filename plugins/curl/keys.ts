import type { KeySpec } from '../../src/signals.js';

export const keys = {
  curl_url: { type: 'string', sameAcrossRoles: true, urlSecret: true, description: 'Artifact URL the hosts download (usually given as --curl-url). user:password in it, and query parameters named like a credential (a presigned URL\'s X-Amz-Signature, X-Amz-Credential; token, sig, ...), are redacted.' },
  curl_artifact: { type: 'string', sameAcrossRoles: true, description: 'A local artifact file uploaded to every host over SFTP (usually given as --artifact).' },
  curl_sha256: { type: 'string', sameAcrossRoles: true, description: 'Expected sha256 of the artifact; a mismatch fails before publish (also --curl-sha256).' },
  curl_user: { type: 'string', secret: true, userPasswordSecret: true, description: 'user:password for the download (redacted everywhere).' },
  curl_output: {
    type: 'string',
    default: '',
    sameAcrossRoles: true,
    description: 'Fapistrano: the name the downloaded file gets in the release (bayarea.jar, or lib/app.jar), instead of the URL\'s last part; such a file is kept as it is, never unpacked. Not with curl_extract_tar/tgz.',
  },
  curl_options: { type: 'string', default: '', description: 'Extra curl options (Fapistrano).' },
  curl_extract_tar: { type: 'boolean', default: false, description: 'Extract the artifact as a tar archive.' },
  curl_extract_tgz: { type: 'boolean', default: false, description: 'Extract the artifact as a gzipped tar archive.' },
  curl_postinstall_script: { type: 'string', default: '', description: 'Command run inside the release after extraction (e.g. ./install.sh).' },
  curl_postinstall_output: { type: 'boolean', default: true, description: 'Show the postinstall script output.' },
  curl_retries: { type: 'integer', default: 3, min: 0, description: 'Download retries on transient errors.' },
  curl_timeout: { type: 'integer', default: 300, min: 1, description: 'Seconds a download may take.' },
} as const satisfies Record<string, KeySpec>;
