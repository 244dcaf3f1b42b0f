// The sample builds `xenimage up` runs on the embedded lab, so a fresh checkout shows the whole path working:
// a self-check of the worker, a qcow2 conversion, an image from an existing VM and a Windows image.
import { randomUUID } from 'node:crypto';
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { ConvertImageInput } from '../contracts/convertInput.js';
import type { VmImageInput } from '../contracts/vmImageInput.js';
import type { WindowsImageInput } from '../contracts/windowsInput.js';
import { errorMessage } from '../errors.js';
import { writeLabInstallers } from '../lab/guest/labInstallers.js';
import type { Lab } from '../lab/index.js';
import { generateWindowsPassword } from '../windows/adminPassword.js';
import { runTool } from '../host/spawn.js';
import type { CliContext } from './context.js';

export interface SampleOutcome {
  name: string;
  ok: boolean;
  workflowId: string;
  summary: string;
}

interface SampleArgs {
  ctx: CliContext;
  client: Client;
  lab: Lab;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** A small qcow2 with data in a few places (made once with qemu-img and qemu-io). */
async function sampleQcow2(stateDir: string): Promise<string> {
  const file = path.join(stateDir, 'samples', 'sample-linux.qcow2');
  if (await exists(file)) return file;
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.partial`;
  await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', tmp, '1G']);
  await runTool('qemu-io', [
    '-f',
    'qcow2',
    '-c',
    'write -P 0x42 0 4M',
    '-c',
    'write -P 0x17 512M 2M',
    '-c',
    'write -P 0x99 1020M 1M',
    tmp,
  ]);
  await rename(tmp, file);
  return file;
}

/** The demo's Windows administrator password: a secret file (its value only) in the secrets folder, made once. */
async function demoSecret(name: string): Promise<{ secret: string }> {
  const dir = process.env.XENIMAGE_SECRETS_DIR!;
  const file = path.join(dir, name);
  if (!(await exists(file))) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(file, generateWindowsPassword(), { mode: 0o600 });
  }
  return { secret: name };
}

async function runOne(name: string, workflowId: string, run: () => Promise<string>): Promise<SampleOutcome> {
  try {
    return { name, ok: true, workflowId, summary: await run() };
  } catch (err) {
    return { name, ok: false, workflowId, summary: `${workflowId}: ${errorMessage(err)}` };
  }
}

export async function runSamples({ ctx, client, lab }: SampleArgs): Promise<SampleOutcome[]> {
  const taskQueue = ctx.config.temporal.taskQueue;
  const suffix = randomUUID().slice(0, 8);
  const cloud = lab.ready.cloud;
  const pool = lab.xapi.poolName;
  const describe = lab.xapi.describe();
  const start = <T>(type: string, workflowId: string, input: unknown) =>
    client.workflow.execute(type, { taskQueue, workflowId, args: [input] }) as Promise<T>;

  const selfCheckId = `sample-self-check-${suffix}`;
  const selfCheck = await runOne('self-check', selfCheckId, async () => {
    const report = await client.workflow.execute('selfCheck', { taskQueue, workflowId: selfCheckId, args: [] });
    const missing = Object.entries(report.tools)
      .filter(([, v]) => v === null)
      .map(([k]) => k);
    return missing.length ? `worker host lacks ${missing.join(', ')}` : `worker ${report.hostname}: all tools found`;
  });

  const builds: Array<Promise<SampleOutcome>> = [];
  const convertId = `sample-convert-${suffix}`;
  builds.push(
    runOne('convert', convertId, async () => {
      const input: ConvertImageInput = {
        source: { path: await sampleQcow2(ctx.stateDir) },
        image: { name: 'xenimage-sample-linux', properties: { os_distro: 'sample' } },
        vmMode: 'xen',
        osType: 'linux',
        cloud,
      };
      const r = await start<{ imageId: string; format: string; tgzBytes: number }>('convertImage', convertId, input);
      return `Glance image ${r.imageId} (${r.format} → ${r.tgzBytes} bytes tarball, verified)`;
    }),
  );

  const pvVm = describe.vms.find((vm) => vm.name === 'debian-pv');
  if (pvVm) {
    const fromVmId = `sample-from-vm-${suffix}`;
    builds.push(
      runOne('from-vm', fromVmId, async () => {
        const input: VmImageInput = {
          pool,
          vm: { name: pvVm.name },
          image: { name: 'xenimage-sample-from-vm' },
          osType: 'linux',
          cloud,
        };
        const r = await start<{ imageId: string; vmMode: string; shutdown: string }>('vmImage', fromVmId, input);
        return `Glance image ${r.imageId} from VM ${pvVm.name} (vm_mode ${r.vmMode}, ${r.shutdown} shutdown, VM running again)`;
      }),
    );
  }

  const installIso = describe.isos.find((iso) => /SERVER_EVAL/i.test(iso.name));
  if (installIso) {
    const windowsId = `sample-windows-${suffix}`;
    builds.push(
      runOne('windows', windowsId, async () => {
        const installers = await writeLabInstallers(path.join(ctx.stateDir, 'samples', 'installers'));
        const input: WindowsImageInput = {
          pool,
          installIso: installIso.name,
          windows: { imageName: 'Windows Server 2022 Standard Evaluation' },
          administrator: { name: 'cloud-admin', password: await demoSecret('demo-windows-admin') },
          pvTools: installers.pvTools,
          cloudbaseInit: installers.cloudbaseInit,
          image: { name: 'xenimage-sample-windows-2022', properties: { os_distro: 'windows', os_version: '2022' } },
          cloud,
        };
        const r = await start<{
          imageId: string;
          sysprepAttempts: Array<{ outcome: string; failureType?: string; remedy?: string }>;
        }>('windowsImage', windowsId, input);
        const attempts = r.sysprepAttempts
          .map(
            (a) => `${a.outcome}${a.failureType ? ` (${a.failureType})` : ''}${a.remedy ? ` after ${a.remedy}` : ''}`,
          )
          .join(', then ');
        return `Glance image ${r.imageId} (sysprep: ${attempts})`;
      }),
    );
  }
  return [selfCheck, ...(await Promise.all(builds))];
}
