// The `xen-api` npm client (Vates) drives the lab over each of its transports: JSON-RPC (int64 as numbers) and
// XML-RPC (int64 as strings, datetimes as Date objects), through the calls the engine makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { contentBytes } from '../../../src/lab/scenarios/content.js';
import { labClient, startTestLab } from '../../helpers/xapiLab.js';

const MiB = 1024 * 1024;

for (const transport of ['json-rpc', 'xml-rpc'] as const) {
  test(`xen-api over ${transport}: login, records, clone, provision, CD, start, events, tasks, transfers, errors`, async (t) => {
    const lab = await startTestLab(t);
    const xapi = await labClient(lab, { transport });
    await xapi.objectsFetched;
    const num = (v: unknown) => (transport === 'json-rpc' ? v : String(v));

    const [tpl] = await xapi.call<string[]>('VM.get_by_name_label', 'Other install media');
    const tplRec = await xapi.call<Record<string, unknown>>('VM.get_record', tpl);
    assert.equal(tplRec.memory_static_max, num(268435456));
    if (transport === 'xml-rpc') assert.ok(tplRec.snapshot_time instanceof Date, 'dateTime.iso8601 becomes a Date');
    else assert.equal(tplRec.snapshot_time, '19700101T00:00:00Z');

    const vm = await xapi.callAsync<string>('VM.clone', tpl, `via-${transport}`);
    const [sr] = await xapi.call<string[]>('SR.get_by_name_label', 'Local storage');
    const srUuid = await xapi.call<string>('SR.get_uuid', sr);
    await xapi.callAsync('VM.set_memory_limits', vm, 128 * MiB, 512 * MiB, 512 * MiB, 512 * MiB);
    await xapi.call(
      'VM.add_to_other_config',
      vm,
      'disks',
      `<provision><disk device="0" size="${8 * MiB}" sr="${srUuid}" bootable="true" type="system"/></provision>`,
    );
    await xapi.callAsync('VM.provision', vm);
    const [iso] = await xapi.call<string[]>('VDI.get_by_name_label', 'SERVER_EVAL_x64FRE_en-us.iso');
    const cd = await xapi.callAsync<string>('VBD.create', {
      VM: vm,
      VDI: 'OpaqueRef:NULL',
      userdevice: '3',
      bootable: true,
      mode: 'RO',
      type: 'CD',
      empty: true,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    });
    await xapi.callAsync('VBD.insert', cd, iso);
    await xapi.callAsync('VM.start', vm, false, false);
    await xapi.barrier();
    const cached = xapi.getObjectByRef(vm);
    assert.equal(cached.power_state, 'Running');
    assert.equal(xapi.getObjectByRef(cd).device, 'xvdd');

    // The cache follows changes made by others (here: the guest) through events.
    await lab.host.guestShutdown(vm);
    await xapi.barrier();
    assert.equal(xapi.getObjectByRef(vm).power_state, 'Halted');

    await assert.rejects(xapi.callAsync('VM.clean_shutdown', vm), (err: { code?: string; params?: string[] }) => {
      assert.equal(err.code, 'VM_BAD_POWER_STATE');
      assert.deepEqual(err.params, [vm, 'running', 'halted']);
      return true;
    });
    await assert.rejects(xapi.call('VBD.get_record', 'OpaqueRef:nope'), { code: 'HANDLE_INVALID' });

    const [vbd] = (await xapi.call<string[]>('VM.get_VBDs', vm)).filter((v) => v !== cd);
    const disk = await xapi.call<string>('VBD.get_VDI', vbd);
    const payload = contentBytes({ offsetMiB: 0, lengthMiB: 2, seed: transport });
    const imported = await xapi.putResource(
      Object.assign(Readable.from([payload]), { length: payload.length }),
      '/import_raw_vdi/',
      { query: { format: 'raw', vdi: disk } },
    );
    assert.equal(imported, disk);
    const res = await xapi.getResource('/export_raw_vdi/', { query: { format: 'raw', vdi: disk } });
    const chunks: Buffer[] = [];
    res.body.on('data', (c: Buffer) => chunks.push(c)); // flowing: see nodejs/undici#5360 in transfer.test.ts
    await new Promise((resolve, reject) => res.body.on('end', resolve).on('error', reject));
    await res.task;
    assert.deepEqual(Buffer.concat(chunks).subarray(0, payload.length), payload);
  });
}
