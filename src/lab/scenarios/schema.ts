// The lab's scenario format: what the simulated pool holds when it starts (pool, hosts, SRs with ISO files,
// networks, templates, VMs with real disk contents) and the faults it injects. `guests` and `faults.guest`
// belong to the simulated guests (src/lab/guest) and pass through untouched. Documented in docs/lab.md.
import { z } from 'zod';
import { XapiFaultSchema } from '../xapi/faults.js';
import { PRODUCT_IDS, PRODUCTS, TEMPLATE_IDS } from '../xapi/setup/products.js';

export { TEMPLATE_IDS } from '../xapi/setup/products.js';

const name = z.string().min(1).max(255);

/** Deterministic disk or ISO contents: `seed` bytes (a SHA-256 stream of the seed) or repeated `text`. */
export const ContentSchema = z
  .object({
    offsetMiB: z.number().min(0),
    lengthMiB: z.number().positive().max(1024),
    seed: z.string().min(1).optional(),
    text: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => (c.seed === undefined) !== (c.text === undefined), { message: 'give exactly one of seed or text' });

export const IsoSchema = z
  .object({
    /** File name in the ISO SR's folder, e.g. "Win2022_EN-US.iso". */
    file: z.string().regex(/^[^/\\]+$/, 'a file name without a folder'),
    /** The ISO 9660 volume label (xorriso -V), e.g. "SSS_X64FREE_EN-US_DV9". */
    label: z.string().min(1).max(32),
    /** Files inside the ISO: path → text content. */
    files: z.record(z.string().min(1), z.string()).default({}),
  })
  .strict();

export const SrSchema = z
  .object({
    name,
    description: z.string().default(''),
    type: z.enum(['ext', 'lvm', 'iso']),
    /** physical_size of a disk SR. */
    sizeGiB: z.number().positive().default(200),
    /** The pool's default SR (default_SR, suspend_image_SR, crash_dump_SR). */
    default: z.boolean().default(false),
    /** The PV tools SR (is_tools_sr; its ISOs have is_tools_iso). */
    tools: z.boolean().default(false),
    shared: z.boolean().default(false),
    isos: z.array(IsoSchema).default([]),
  })
  .strict();

export const NetworkSchema = z
  .object({
    name,
    description: z.string().default(''),
    bridge: z.string().min(1),
    mtu: z.number().int().min(68).max(9216).default(1500),
    /** The PIF device each host has on this network. */
    device: z.string().min(1).default('eth0'),
  })
  .strict();

export const HostSchema = z
  .object({
    name,
    /** The address clients reach this host's XAPI on (a loopback address; each host gets its own listener). */
    address: z
      .string()
      .regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'a 127.x.y.z address')
      .optional(),
    memoryGiB: z.number().positive().default(64),
    cpus: z.number().int().positive().default(8),
  })
  .strict();

export const VmDiskSchema = z
  .object({
    sr: name,
    sizeMiB: z.number().int().positive(),
    userdevice: z.string().regex(/^\d+$/).default('0'),
    content: z.array(ContentSchema).default([]),
  })
  .strict();

export const VmSchema = z
  .object({
    name,
    description: z.string().default(''),
    mode: z.enum(['hvm', 'pv']).default('hvm'),
    powerState: z.enum(['Halted', 'Running']).default('Halted'),
    memoryMiB: z.number().int().min(64).default(1024),
    vcpus: z.number().int().min(1).max(64).default(1),
    disks: z.array(VmDiskSchema).default([]),
    networks: z.array(name).default([]),
    /** A CD drive (userdevice 3) holding this ISO file (or empty when null). */
    cdrom: z.object({ iso: z.string().nullable() }).strict().optional(),
    platform: z.record(z.string(), z.string()).default({}),
    /** HVM_boot_params:firmware. UEFI VMs boot with order "cd", as the UEFI templates do. */
    firmware: z.enum(['bios', 'uefi']).default('bios'),
    /** platform:secureboot (UEFI only, as XAPI ignores it under BIOS). */
    secureBoot: z.boolean().default(false),
    /** A VTPM is attached (VTPM.create on the halted VM, before it is started). */
    vtpm: z.boolean().default(false),
    /** VM.has_vendor_device (the C000 PCI device Windows Update drivers bind to). */
    hasVendorDevice: z.boolean().default(false),
    otherConfig: z.record(z.string(), z.string()).default({}),
    tags: z.array(z.string()).default([]),
    /** What the PV agent of a running VM reports (VM_guest_metrics). */
    guestMetrics: z
      .object({
        networks: z.record(z.string(), z.string()).default({}),
        pvDriversVersion: z.record(z.string(), z.string()).default({}),
        pvDriversDetected: z.boolean().default(false),
        osVersion: z.record(z.string(), z.string()).default({}),
        other: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .optional(),
  })
  .strict();

export const ScenarioSchema = z
  .object({
    name,
    description: z.string().default(''),
    /** A named scenario whose keys this one overrides (top-level keys replace, `faults` merges by list). */
    extends: z.string().optional(),
    pool: z
      .object({
        name,
        /** What the pool is (host software versions, restrictions, templates, the VTPM class): docs/lab.md. */
        product: z.enum(PRODUCT_IDS).default('xenserver-8'),
        /** Dynamic memory control; off as on XenServer editions that restrict it (all dynamic values = static_max). */
        dmc: z.boolean().default(false),
        /** pool.restrictions entries over the product's (e.g. {"restrict_vtpm": "true"} for an unlicensed pool). */
        restrictions: z.record(z.string().min(1), z.string()).default({}),
      })
      .strict(),
    credentials: z
      .object({ username: z.string().min(1).default('root'), password: z.string().min(1).optional() })
      .strict()
      .default({ username: 'root' }),
    hosts: z.array(HostSchema).min(1),
    srs: z.array(SrSchema).default([]),
    networks: z.array(NetworkSchema).default([]),
    /** Stock templates to install (default: every template the product ships). */
    templates: z.array(z.enum(TEMPLATE_IDS)).optional(),
    /** How VMs get their loopback addresses (every VM of the pool, also those made through the API). */
    vmAddresses: z
      .object({
        /** A new address at every domain start (as DHCP without reservations), instead of one for the VM's life. */
        perBoot: z.boolean().default(false),
        /** An IPv6 address per VIF, reported by the PV agent (unique, not routable from the host). */
        ipv6: z.boolean().default(false),
      })
      .strict()
      .default({ perBoot: false, ipv6: false }),
    vms: z.array(VmSchema).default([]),
    /** Sessions idle this long expire (XAPI: 24 h). */
    sessionIdleTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(24 * 3600 * 1000),
    /** For the simulated guests (src/lab/guest); not read by the XAPI lab. */
    guests: z.unknown().optional(),
    faults: z
      .object({
        xapi: z.array(XapiFaultSchema).default([]),
        /** For the simulated guests; not read by the XAPI lab. */
        guest: z.array(z.unknown()).default([]),
      })
      .strict()
      .default({ xapi: [], guest: [] }),
  })
  .strict()
  .superRefine((s, ctx) => {
    const srNames = new Set(s.srs.map((sr) => sr.name));
    const netNames = new Set(s.networks.map((n) => n.name));
    const isoFiles = new Set(s.srs.flatMap((sr) => sr.isos.map((i) => i.file)));
    const product = PRODUCTS[s.pool.product];
    s.templates?.forEach((id, i) => {
      if (!product.templates.includes(id))
        ctx.addIssue({ code: 'custom', message: `${product.id} does not ship "${id}"`, path: ['templates', i] });
    });
    if (s.srs.filter((sr) => sr.default).length > 1)
      ctx.addIssue({ code: 'custom', message: 'at most one default SR', path: ['srs'] });
    s.srs.forEach((sr, i) => {
      if (sr.type !== 'iso' && sr.isos.length > 0)
        ctx.addIssue({ code: 'custom', message: 'only ISO SRs hold ISO files', path: ['srs', i, 'isos'] });
      if (sr.type !== 'iso' && sr.tools)
        ctx.addIssue({ code: 'custom', message: 'the tools SR is an ISO SR', path: ['srs', i, 'tools'] });
    });
    s.vms.forEach((vm, i) => {
      vm.disks.forEach((d, j) => {
        if (!srNames.has(d.sr))
          ctx.addIssue({ code: 'custom', message: `unknown SR "${d.sr}"`, path: ['vms', i, 'disks', j, 'sr'] });
        for (const c of d.content) {
          if (c.offsetMiB + c.lengthMiB > d.sizeMiB)
            ctx.addIssue({
              code: 'custom',
              message: 'content beyond the end of the disk',
              path: ['vms', i, 'disks', j],
            });
        }
      });
      vm.networks.forEach((n, j) => {
        if (!netNames.has(n))
          ctx.addIssue({ code: 'custom', message: `unknown network "${n}"`, path: ['vms', i, 'networks', j] });
      });
      if (vm.cdrom?.iso && !isoFiles.has(vm.cdrom.iso))
        ctx.addIssue({ code: 'custom', message: `unknown ISO "${vm.cdrom.iso}"`, path: ['vms', i, 'cdrom'] });
      if ((vm.secureBoot || vm.vtpm) && vm.firmware !== 'uefi')
        ctx.addIssue({
          code: 'custom',
          message: 'Secure Boot and a vTPM need firmware "uefi"',
          path: ['vms', i, 'firmware'],
        });
      if (vm.vtpm && product.vtpm !== 'current')
        ctx.addIssue({ code: 'custom', message: `${product.id} has no VTPM class`, path: ['vms', i, 'vtpm'] });
      if (vm.guestMetrics && vm.powerState !== 'Running')
        ctx.addIssue({
          code: 'custom',
          message: 'only running VMs report guest metrics',
          path: ['vms', i, 'guestMetrics'],
        });
    });
  });

export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioVm = Scenario['vms'][number];
