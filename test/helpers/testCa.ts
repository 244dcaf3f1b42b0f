// A throwaway CA and a server certificate for 127.0.0.1 signed by it, made by openssl in `dir`:
// ca.pem, server.key, server.pem (TLS fronts before the lab in transport tests).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function makeCertificates(dir: string): Promise<void> {
  const o = (f: string) => path.join(dir, f);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    o('ca.key'),
    '-out',
    o('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=xenimage test CA',
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    o('server.key'),
    '-out',
    o('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await writeFile(o('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    o('server.csr'),
    '-CA',
    o('ca.pem'),
    '-CAkey',
    o('ca.key'),
    '-CAcreateserial',
    '-out',
    o('server.pem'),
    '-days',
    '2',
    '-extfile',
    o('san.ext'),
  ]);
}
