// The lab pool's own certificate authority and host certificate, as a XenServer pool has self-signed ones: made
// once with openssl (Debian package) in <stateDir>/xapi/tls/, the keys 0600, and kept across restarts. Every host
// address is in the certificate's subjectAltName, so clients that trust the CA (the pools file's `ca:`) verify
// whichever host they reach. A scenario that adds hosts gets a new host certificate from the same CA.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTool } from '../../../host/spawn.js';

export interface LabTls {
  /** The CA certificate clients trust (PEM file). */
  caFile: string;
  cert: string;
  key: string;
}

const DAYS = '3650';

async function exists(file: string): Promise<boolean> {
  return readFile(file).then(
    () => true,
    () => false,
  );
}

async function covers(certFile: string, addresses: readonly string[]): Promise<boolean> {
  try {
    const cert = new X509Certificate(await readFile(certFile));
    const names = cert.subjectAltName ?? '';
    return addresses.every((a) => names.includes(`IP Address:${a}`));
  } catch {
    return false;
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await runTool('openssl', args, { timeout: 30_000 });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The pool's CA and a host certificate for `addresses` (made, or reused when the one on disk covers them). */
export async function labTls(xapiDir: string, poolName: string, addresses: readonly string[]): Promise<LabTls> {
  const dir = path.join(xapiDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => path.join(dir, name);
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  if (!(await exists(f('ca.pem'))) || !(await exists(f('ca.key')))) {
    await openssl([
      'req',
      '-x509',
      ...curve,
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.pem'),
      '-days',
      DAYS,
      '-subj',
      `/O=xenimage lab/CN=${poolName} pool CA`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await rm(f('host.pem'), { force: true });
  }
  if (!(await covers(f('host.pem'), addresses))) {
    await openssl(['req', ...curve, '-keyout', f('host.key'), '-out', f('host.csr'), '-subj', `/CN=${addresses[0]}`]);
    const san = ['DNS:localhost', ...addresses.map((a) => `IP:${a}`)].join(',');
    await writeFile(
      f('host.ext'),
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`,
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      f('host.csr'),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      DAYS,
      '-extfile',
      f('host.ext'),
      '-out',
      f('host.pem'),
    ]);
    await rm(f('host.csr'), { force: true });
  }
  for (const key of ['ca.key', 'host.key']) await chmod(f(key), 0o600);
  return {
    caFile: f('ca.pem'),
    cert: await readFile(f('host.pem'), 'utf8'),
    key: await readFile(f('host.key'), 'utf8'),
  };
}
