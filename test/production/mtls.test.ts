// Production Temporal, proven: a worker and the CLI reach Temporal only through a TLS front that demands client
// certificates (nginx, `ssl_verify_client on`, a server certificate for a name that is not the address). With the
// CA, a client certificate and TEMPORAL_TLS_SERVER_NAME they run a self-check and a convert build to Glance; a
// missing, foreign or mis-named certificate is refused with one typed line, for the CLI and for the worker.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { runTool } from '../../src/host/spawn.js';
import { runCli } from '../helpers/cli.js';
import { testOpenStack } from '../helpers/openstack.js';
import { onTeardown } from '../helpers/teardown.js';
import { testTemporal } from '../helpers/temporal.js';
import { waitFor } from '../helpers/waitFor.js';
import { startWorkerProcess } from '../helpers/workerProcess.js';
import { makeCertificates, SERVER_NAME, startTlsFront, type Certificates } from './tlsFront.js';

/** One line, a typed error, no stack trace. */
function assertOneTypedLine(stderr: string, type: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, new RegExp(`^xenimage: ${type}: `));
  assert.doesNotMatch(stderr, /\n\s+at |ServiceError|TransportError|tonic/);
  return lines[0]!;
}

describe('Temporal behind a TLS front that demands client certificates', () => {
  let certs: Certificates;
  let base: Record<string, string>;
  let mtls: Record<string, string>;
  let dir: string;
  let inputFile: string;

  before(async () => {
    const [temporal, openstack] = await Promise.all([testTemporal(), testOpenStack()]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-mtls-'));
    onTeardown(() => rm(dir, { recursive: true, force: true }));
    certs = await makeCertificates(path.join(dir, 'pki'));
    const front = await startTlsFront(path.join(dir, 'nginx'), certs, temporal.address);
    onTeardown(() => front.stop());
    const stateDir = path.join(dir, 'state');
    base = {
      TEMPORAL_ADDRESS: front.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      XENIMAGE_TASK_QUEUE: `mtls-${randomUUID().slice(0, 8)}`,
      XENIMAGE_STATE_DIR: stateDir,
      OS_CLIENT_CONFIG_FILE: openstack.cloudsFile,
    };
    mtls = {
      ...base,
      TEMPORAL_TLS_CA: certs.ca,
      TEMPORAL_TLS_CERT: certs.client.cert,
      TEMPORAL_TLS_KEY: certs.client.key,
      TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    };
    // A source under the state's source root, where inputs may read.
    const sources = path.join(stateDir, 'sources');
    await mkdir(sources, { recursive: true });
    const disk = path.join(sources, 'mtls.qcow2');
    await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    await runTool('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 1M', disk]);
    inputFile = path.join(dir, 'convert.json');
    await writeFile(
      inputFile,
      JSON.stringify({
        source: { path: disk },
        image: { name: `mtls-${randomUUID().slice(0, 6)}` },
        vmMode: 'hvm',
        osType: 'linux',
        cloud: openstack.cloud,
      }),
    );
  });

  test('a worker and the CLI with a client certificate run a self-check and a convert build', async () => {
    const worker = startWorkerProcess(mtls, []);
    await worker.ready;
    try {
      const check = await runCli(['check', '--json', '--timeout', '60'], mtls);
      assert.equal(check.code, 0, check.stderr);
      const report = JSON.parse(check.stdout) as { hostname: string; tools: Record<string, string | null> };
      assert.equal(report.hostname, os.hostname());
      assert.ok(report.tools.qemuImg, 'the worker reports qemu-img');

      const id = `mtls-convert-${randomUUID().slice(0, 8)}`;
      const built = await runCli(['build', 'convert', inputFile, '--wait', '--id', id], mtls, 180_000);
      assert.equal(built.code, 0, built.stderr);
      const result = JSON.parse(built.stdout.trim().split('\n')[1]!) as {
        verified: { imageId: string; status: string };
        imageId: string;
      };
      assert.equal(result.verified.imageId, result.imageId, 'the verification ran on the published image');
      assert.equal(result.verified.status, 'active');
      assert.match(result.imageId, /^[0-9a-f-]{36}$/);

      const status = await runCli(['status', id, '--json'], mtls);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { status: string }).status, 'COMPLETED');
    } finally {
      await worker.kill('SIGTERM');
    }
    assert.match(worker.output(), /"workers running"/);
  });

  test('setup --search-attributes registers the search attributes on a new namespace of the cluster', async () => {
    const namespace = `images-${randomUUID().slice(0, 8)}`;
    const temporal = await testTemporal();
    const connection = await Connection.connect({ address: temporal.address });
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs('1 day'),
      });
      const env = { ...mtls, TEMPORAL_NAMESPACE: namespace };
      const first = await waitFor(
        'the new namespace to answer',
        async () => {
          const r = await runCli(['setup', '--search-attributes'], env);
          return r.code === 0 ? r : undefined;
        },
        30_000,
        500,
      );
      assert.equal(
        first.stdout.trim(),
        `namespace ${namespace}: added XenimageKind, XenimageImage, XenimagePool, XenimageStep`,
      );
      const again = await runCli(['setup', '--search-attributes'], env);
      assert.equal(again.stdout.trim(), `namespace ${namespace}: search attributes already there`);
      const listed = await connection.operatorService.listSearchAttributes({ namespace });
      assert.ok(Object.keys(listed.customAttributes ?? {}).includes('XenimageImage'));
    } finally {
      await connection.close();
    }
  });

  test('the CLI without a client certificate is refused with one typed line', async () => {
    const { TEMPORAL_TLS_CERT: _c, TEMPORAL_TLS_KEY: _k, ...noCert } = mtls;
    const out = await runCli(['list'], noCert);
    assert.equal(out.code, 1);
    const line = assertOneTypedLine(out.stderr, 'TemporalClientCertificateRejected');
    assert.match(line, /none was sent: set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
    assert.ok(line.includes(base.TEMPORAL_ADDRESS!), line);
  });

  test('the CLI with a certificate of a foreign CA is refused, naming the certificate', async () => {
    const out = await runCli(['status', 'anything'], {
      ...mtls,
      TEMPORAL_TLS_CERT: certs.foreign.cert,
      TEMPORAL_TLS_KEY: certs.foreign.key,
    });
    assert.equal(out.code, 1);
    const line = assertOneTypedLine(out.stderr, 'TemporalClientCertificateRejected');
    assert.ok(line.includes(certs.foreign.cert), line);
  });

  test('a worker with a certificate of a foreign CA stops at once with one typed line', async () => {
    const worker = startWorkerProcess(
      {
        ...mtls,
        XENIMAGE_LOG_LEVEL: 'warn',
        TEMPORAL_TLS_CERT: certs.foreign.cert,
        TEMPORAL_TLS_KEY: certs.foreign.key,
      },
      [],
    );
    worker.ready.catch(() => undefined); // it is expected never to be ready
    const code = await Promise.race([
      worker.exited,
      new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 60_000).unref()),
    ]);
    assert.equal(code, 1, worker.output());
    const last = worker.output().trim().split('\n').pop()!;
    assert.match(last, /^xenimage: TemporalClientCertificateRejected: /);
    assert.doesNotMatch(worker.output(), /\n\s+at /);
  });

  test('a server certificate that does not name the address, or no CA to check it: the CLI says which', async () => {
    const { TEMPORAL_TLS_SERVER_NAME: _n, ...noName } = mtls;
    const mismatch = await runCli(['list'], noName);
    assert.equal(mismatch.code, 1);
    assert.match(assertOneTypedLine(mismatch.stderr, 'TemporalServerNameMismatch'), /TEMPORAL_TLS_SERVER_NAME/);

    const { TEMPORAL_TLS_CA: _a, ...noCa } = mtls;
    const untrusted = await runCli(['list'], noCa);
    assert.equal(untrusted.code, 1);
    assert.match(assertOneTypedLine(untrusted.stderr, 'TemporalServerCertificateUntrusted'), /TEMPORAL_TLS_CA/);

    const plain = await runCli(['list'], base);
    assert.equal(plain.code, 1);
    assertOneTypedLine(plain.stderr, 'TemporalTlsMismatch');
  });
});
