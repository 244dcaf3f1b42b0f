// A production-like TLS front for the tests: a small CA made with openssl, a server certificate for a name that is
// not the address (so clients need TEMPORAL_TLS_SERVER_NAME), client certificates of that CA and of a foreign CA,
// and Debian's nginx proxying gRPC to a Temporal server with `ssl_verify_client on` (mTLS, as an ingress does).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findTool, runTool } from '../../src/host/spawn.js';
import { freePort, isListening } from '../../src/net/freePort.js';
import { startChild, type ManagedChild } from '../../src/process/child.js';
import { waitFor } from '../helpers/waitFor.js';

export const SERVER_NAME = 'temporal.xenimage.test';

export interface Certificates {
  ca: string;
  serverCert: string;
  serverKey: string;
  client: { cert: string; key: string };
  /** Signed by a CA the front does not trust. */
  foreign: { cert: string; key: string };
}

async function openssl(args: string[]): Promise<void> {
  await runTool('openssl', args);
}

async function keyAndRequest(dir: string, name: string, subject: string): Promise<{ key: string; csr: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  await openssl(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      subject,
    ]),
  );
  return { key, csr };
}

async function selfSignedCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  await openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ]),
  );
  return { cert, key };
}

async function sign(
  dir: string,
  ca: { cert: string; key: string },
  request: { csr: string },
  name: string,
  extensions: string,
): Promise<string> {
  const ext = path.join(dir, `${name}.ext`);
  const cert = path.join(dir, `${name}.crt`);
  await writeFile(ext, extensions);
  await openssl(
    ['x509', '-req', '-in', request.csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial'].concat([
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      cert,
    ]),
  );
  return cert;
}

export async function makeCertificates(dir: string): Promise<Certificates> {
  await mkdir(dir, { recursive: true });
  const ca = await selfSignedCa(dir, 'xenimage-test-ca');
  const foreignCa = await selfSignedCa(dir, 'foreign-ca');
  const server = await keyAndRequest(dir, 'server', `/CN=${SERVER_NAME}`);
  const serverCert = await sign(
    dir,
    ca,
    server,
    'server',
    `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\n`,
  );
  const client = await keyAndRequest(dir, 'client', '/CN=xenimage-worker');
  const clientCert = await sign(dir, ca, client, 'client', 'extendedKeyUsage=clientAuth\n');
  const foreign = await keyAndRequest(dir, 'foreign', '/CN=xenimage-worker');
  const foreignCert = await sign(dir, foreignCa, foreign, 'foreign', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: ca.cert,
    serverCert,
    serverKey: server.key,
    client: { cert: clientCert, key: client.key },
    foreign: { cert: foreignCert, key: foreign.key },
  };
}

export interface TlsFront {
  address: string;
  stop(): Promise<void>;
}

/** nginx on a free loopback port: TLS with client certificates required, gRPC passed to `upstream`. */
export async function startTlsFront(dir: string, certs: Certificates, upstream: string): Promise<TlsFront> {
  const nginx = findTool('nginx', { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin` });
  if (!nginx) throw new Error('nginx is not installed: apt-get install nginx-light (.ci/run installs it)');
  const port = await freePort();
  await mkdir(path.join(dir, 'temp'), { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  const temp = (name: string) => `${name}_temp_path ${path.join(dir, 'temp', name)};`;
  await writeFile(
    conf,
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      // Workers of a root master would run as nobody, who cannot enter the test's private folder.
      ...(process.getuid?.() === 0 ? ['user root;'] : []),
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${path.join(dir, 'error.log')} info;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
      '  server {',
      `    listen 127.0.0.1:${port} ssl http2;`,
      `    ssl_certificate ${certs.serverCert};`,
      `    ssl_certificate_key ${certs.serverKey};`,
      `    ssl_client_certificate ${certs.ca};`,
      '    ssl_verify_client on;',
      '    ssl_protocols TLSv1.2 TLSv1.3;',
      // Long polls last about a minute; gRPC messages may exceed nginx's 1 MiB default.
      '    grpc_read_timeout 300s;',
      '    grpc_send_timeout 300s;',
      '    client_body_timeout 300s;',
      '    client_max_body_size 0;',
      `    location / { grpc_pass grpc://${upstream}; }`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child: ManagedChild = startChild(nginx, ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', conf], {
    logFile: path.join(dir, 'nginx.out'),
  });
  let exited: number | string | undefined;
  void child.exited.then((code) => (exited = code));
  await waitFor(
    `nginx listening on 127.0.0.1:${port}`,
    async () => {
      if (exited !== undefined) throw new Error(`nginx exited (${exited}); see ${path.join(dir, 'error.log')}`);
      return isListening('127.0.0.1', port);
    },
    20_000,
    50,
  );
  return { address: `127.0.0.1:${port}`, stop: () => child.stop(5000) };
}
