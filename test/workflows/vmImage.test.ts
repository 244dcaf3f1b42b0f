// vmImage end to end: existing lab VMs (PV with drivers, HVM without) → real Glance, on the real dev server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { createGunzip } from 'node:zlib';
import type { VmImageInput } from '../../src/contracts/vmImageInput.js';
import { buildTag, downloadImage, type OpenStackCloud } from '../../src/openstack/index.js';
import { XapiConnection } from '../../src/xapi/connection.js';
import { startBuildLab, type BuildLab } from '../helpers/buildLab.js';
import { identityOf, retriedActivities, rootFailure, waitForProgress } from '../helpers/builds.js';
import { onTeardown } from '../helpers/teardown.js';
import { waitFor } from '../helpers/waitFor.js';

const run = promisify(execFile);

describe('vmImage workflow', () => {
  let lab: BuildLab;
  let cloud: OpenStackCloud;
  let xapi: XapiConnection;
  let dir: string;

  before(async () => {
    lab = await startBuildLab({ scenario: 'existing-vms' });
    cloud = lab.openstack.open();
    xapi = await XapiConnection.open({
      pool: lab.pool,
      url: lab.xapi.url,
      username: lab.xapi.username,
      password: lab.xapi.password,
    });
    onTeardown(() => xapi.close());
    dir = await mkdtemp(path.join(os.tmpdir(), 'xenimage-vmimage-'));
    onTeardown(() => rm(dir, { recursive: true, force: true }));
  });

  const input = (vm: string, extra: Partial<VmImageInput> = {}): VmImageInput => ({
    pool: lab.pool,
    vm: { name: vm },
    image: { name: `from-${vm}` },
    osType: 'linux',
    cloud: lab.openstack.cloud,
    tuning: { heartbeatTimeout: '30s', retryInitialInterval: '1s', maxRetryInterval: '5s', transferTimeout: '30m' },
    ...extra,
  });

  function vmRecord(name: string) {
    const vm = xapi.all('VM').find((v) => v.name_label === name && !v.is_a_template);
    assert.ok(vm, `VM ${name} exists`);
    return vm;
  }

  /** Each test starts from the power state it needs, whatever the one before left. */
  async function ensureRunning(name: string): Promise<void> {
    const ref = vmRecord(name).$ref;
    if ((await xapi.call('VM.get_power_state', ref)) !== 'Running') await xapi.call('VM.start', ref, false, false);
  }

  /** The 0.vhd of a Glance image as a file. */
  async function imageVhd(imageId: string, file: string): Promise<void> {
    const extract = tar.extract();
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, stream, next) => {
        assert.equal(header.name, '0.vhd');
        pipeline(stream, createWriteStream(file)).then(() => next(), reject);
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    await pipeline(await downloadImage(cloud, imageId), createGunzip(), extract);
    await done;
  }

  /** The raw contents of a VM's disk, from the lab's HTTP export (the VM is powered off first: XAPI exports no disk in use). */
  async function vdiRaw(vm: string, vdi: string, file: string): Promise<void> {
    await xapi.call('VM.hard_shutdown', vm);
    const exported = await xapi.exportVdi(vdi, 'raw');
    await pipeline(exported.stream, createWriteStream(file));
    await exported.task;
  }

  /** The image's 0.vhd holds the bytes of the VM's system disk (compared by qemu-img; the VM is left halted). */
  async function assertSameBytes(imageId: string, vmName: string): Promise<void> {
    const vm = vmRecord(vmName);
    const vbd = vm.VBDs.map((b) => xapi.cached('VBD', b)!).find((b) => b.type === 'Disk' && b.userdevice === '0')!;
    const vhd = path.join(dir, `${vmName}.vhd`);
    const raw = path.join(dir, `${vmName}.raw`);
    await imageVhd(imageId, vhd);
    await vdiRaw(vm.$ref, vbd.VDI, raw);
    await run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', vhd, raw]);
  }

  test('a running PV VM: clean shutdown, vm_mode=xen image with the same bytes, VM running again', async () => {
    await ensureRunning('debian-pv');
    const workflowId = `from-vm-${randomUUID().slice(0, 8)}`;
    const handle = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [input('debian-pv')],
    });
    const result = (await handle.result()) as {
      imageId: string;
      checksum: string;
      vmMode: string;
      shutdown: string;
      verified: { imageId: string; md5: string; checks: string[] };
      warnings: string[];
    };
    assert.equal(result.vmMode, 'xen');
    assert.equal(result.shutdown, 'clean');
    assert.deepEqual([result.verified.imageId, result.verified.md5], [result.imageId, result.checksum]);
    assert.deepEqual(result.warnings, []);
    const image = await cloud.glance.getImage(result.imageId);
    assert.equal(image.status, 'active');
    assert.equal(image.vm_mode, 'xen');
    assert.equal(image.container_format, 'ovf');
    assert.ok(image.tags.includes(buildTag(identityOf(handle))));

    assert.equal(await xapi.call('VM.get_power_state', vmRecord('debian-pv').$ref), 'Running', 'the VM runs again');
    await assertSameBytes(result.imageId, 'debian-pv');
  });

  test('the lab (XAPI host) restarts during the export: the export runs again, one image with the same bytes', async (t) => {
    t.after(() => lab.xapi.faults.clear());
    await ensureRunning('debian-pv');
    const workflowId = `from-vm-restart-${randomUUID().slice(0, 8)}`;
    lab.xapi.faults.inject({ kind: 'slow', method: 'export_raw_vdi', delayMs: 30_000 });
    const handle = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [input('debian-pv')],
    });
    await waitForProgress(handle, (p) => p.step === 'export and upload');
    const before = lab.xapi;
    await waitFor('the stalled export', () =>
      before.faults.fired.some((f) => f.kind === 'slow' && f.method === 'export_raw_vdi'),
    ); // the transfer has begun
    await lab.restartXapi(); // cuts it: the upload attempt (or the activity) starts again on the new host
    const result = (await handle.result()) as { imageId: string; verified: { imageId: string } };
    assert.equal(result.verified.imageId, result.imageId);
    // What ran again is the export, and nothing before it: the shutdown and the lookups were not repeated.
    const retried = await retriedActivities(handle);
    assert.ok(retried.includes('exportToGlance'), `the export ran again (retried: ${retried.join(', ')})`);
    for (const earlier of ['findVm', 'cleanShutdown', 'findSystemDisk'])
      assert.ok(!retried.includes(earlier), `${earlier} did not run again`);
    const images = await cloud.glance.listImages({ tag: buildTag(identityOf(handle)) });
    assert.deepEqual(
      images.map((i) => [i.id, i.status]),
      [[result.imageId, 'active']],
      'one image for the build',
    );
    // Read directly: this test's own event cache went through the restart too.
    assert.equal(
      await xapi.call('VM.get_power_state', vmRecord('debian-pv').$ref),
      'Running',
      'the VM is running again',
    );
    await assertSameBytes(result.imageId, 'debian-pv');
  });

  test('an HVM VM without PV drivers: refused without allowHard (typed, nothing made, VM untouched)', async () => {
    await ensureRunning('legacy-hvm');
    const workflowId = `from-vm-nohard-${randomUUID().slice(0, 8)}`;
    const handle = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [input('legacy-hvm', { shutdown: { timeout: '30s' } })],
    });
    await assert.rejects(handle.result(), (err: unknown) => {
      const failure = rootFailure(err);
      assert.equal(failure?.type, 'ShutdownFailed');
      assert.match(failure.message, /allowHard/);
      return true;
    });
    assert.deepEqual(await cloud.glance.listImages({ tag: buildTag(identityOf(handle)) }), []);
    assert.equal(await xapi.call('VM.get_power_state', vmRecord('legacy-hvm').$ref), 'Running');
  });

  test('an HVM VM with allowHard and normalize "xapi": hard shutdown, vm_mode=hvm, EXT SR round trip leaves nothing tagged', async () => {
    await ensureRunning('legacy-hvm');
    const workflowId = `from-vm-hard-${randomUUID().slice(0, 8)}`;
    const handle = await lab.client.workflow.start('vmImage', {
      taskQueue: lab.taskQueue,
      workflowId,
      args: [input('legacy-hvm', { shutdown: { timeout: '30s', allowHard: true }, normalize: 'xapi' })],
    });
    const result = (await handle.result()) as {
      imageId: string;
      vmMode: string;
      shutdown: string;
      normalized: boolean;
    };
    assert.equal(result.vmMode, 'hvm');
    assert.equal(result.shutdown, 'hard');
    assert.equal(result.normalized, true);
    const image = await cloud.glance.getImage(result.imageId);
    assert.equal(image.vm_mode, 'hvm');
    await xapi.barrier();
    assert.deepEqual(
      xapi
        .all('VDI')
        .filter((v) => v.other_config['xenimage-build'] === identityOf(handle))
        .map((v) => v.name_label),
      [],
      'the normalisation VDI is gone',
    );
    await assertSameBytes(result.imageId, 'legacy-hvm');
  });
});
