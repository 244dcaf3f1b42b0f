// The WinRM HTTPS listener certificate, generated per build on the engine side: a self-signed RSA certificate
// (openssl req -x509) packed into a PFX for the answer media, plus the PEM the client pins. The private key
// only exists in a 0700 temporary folder while the PFX is made, and on the answer media.
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { XenimageError } from '../errors.js';
import { ToolMissingError, runTool } from '../host/spawn.js';
import { registerSecretValue } from '../secrets.js';

export interface ListenerCertificate {
  /** PEM certificate: what the WinRM client pins. Not secret. */
  certPem: string;
  /** PKCS#12 with the key, encrypted with `pfxPassword` (3DES/SHA-1: importable by Windows Server 2016 and later). */
  pfx: Buffer;
  pfxPassword: string;
  /** SHA-1 of the DER certificate in upper-case hex: Windows' thumbprint for the listener binding. */
  thumbprint: string;
  fingerprint256: string;
}

export async function createListenerCertificate(o: {
  commonName: string;
  days?: number;
  tmpDir?: string;
}): Promise<ListenerCertificate> {
  if (!/^[A-Za-z0-9.-]{1,63}$/.test(o.commonName)) {
    throw new XenimageError('InvalidInput', `certificate common name "${o.commonName}" must be a host name`, {
      retryable: false,
    });
  }
  const dir = await mkdtemp(path.join(o.tmpDir ?? os.tmpdir(), 'xenimage-cert-'));
  const pfxPassword = randomBytes(18).toString('base64url');
  registerSecretValue(pfxPassword);
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    const pfx = path.join(dir, 'cert.pfx');
    await runTool('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(o.days ?? 30),
      '-subj',
      `/CN=${o.commonName}`,
      '-addext',
      `subjectAltName=DNS:${o.commonName}`,
      '-addext',
      'extendedKeyUsage=serverAuth',
      '-addext',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      '-addext',
      'basicConstraints=critical,CA:FALSE',
    ]);
    // The password goes through the environment, never on a command line.
    await runTool(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-in',
        cert,
        '-inkey',
        key,
        '-out',
        pfx,
        '-passout',
        'env:XENIMAGE_PFX_PASS',
        '-certpbe',
        'PBE-SHA1-3DES',
        '-keypbe',
        'PBE-SHA1-3DES',
        '-macalg',
        'sha1',
        '-name',
        'xenimage-winrm',
      ],
      { env: { ...process.env, XENIMAGE_PFX_PASS: pfxPassword } },
    );
    const certPem = await readFile(cert, 'utf8');
    const x = new X509Certificate(certPem);
    return {
      certPem,
      pfx: await readFile(pfx),
      pfxPassword,
      thumbprint: x.fingerprint.replace(/:/g, '').toUpperCase(),
      fingerprint256: x.fingerprint256,
    };
  } catch (err) {
    if (err instanceof ToolMissingError) throw err;
    throw new XenimageError(
      'CertificateFailed',
      `could not create the WinRM listener certificate with openssl: ${(err as Error).message.split('\n')[0]}`,
      { retryable: false, cause: err },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
