// What the Temporal UI shows of a build before it runs (docs/operator-guide.md, "The Web UI as a console"): a
// one-line summary and markdown details naming the kind, image, pool and source — never a secret, so only named
// fields are read (a URL source loses its user info and query, which may carry a token).

const WORKFLOW_KINDS: Record<string, string> = {
  convertImage: 'convert',
  vmImage: 'from-vm',
  windowsImage: 'windows',
};

function field(input: unknown, ...path: string[]): unknown {
  let v: unknown = input;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v.replace(/[\r\n`|]/g, ' ').slice(0, 200) : undefined;
}

/** A source URL without what may be secret: user info, query, fragment. */
export function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

function source(workflowType: string, input: unknown): string | undefined {
  if (workflowType === 'convertImage') {
    const path = text(field(input, 'source', 'path'));
    const url = text(field(input, 'source', 'url'));
    return path ?? (url ? publicUrl(url) : undefined);
  }
  if (workflowType === 'vmImage') {
    const name = text(field(input, 'vm', 'name'));
    const uuid = text(field(input, 'vm', 'uuid'));
    return name ? `VM ${name}` : uuid ? `VM ${uuid}` : undefined;
  }
  if (workflowType === 'windowsImage') {
    const iso = text(field(input, 'installIso'));
    return iso ? `ISO ${iso}` : undefined;
  }
  return undefined;
}

export interface BuildSummary {
  /** One line: `windows build of ws2022 on pool lab`. */
  summary: string;
  /** Markdown: a table of kind, image, pool, source, cloud (and the schedule, for a golden build). */
  details: string;
}

export function buildSummary(workflowType: string, input: unknown, schedule?: string): BuildSummary {
  const kind = WORKFLOW_KINDS[workflowType] ?? workflowType;
  const image = text(field(input, 'image', 'name')) ?? '?';
  const pool = text(field(input, 'pool'));
  const rows: Array<[string, string | undefined]> = [
    ['kind', `${kind} (\`${workflowType}\`)`],
    ['image', image],
    ['pool', pool],
    ['source', source(workflowType, input)],
    ['cloud', text(field(input, 'cloud'))],
    ['golden series', schedule],
  ];
  const details = [
    `**xenimage ${kind} build**`,
    '',
    '| | |',
    '|---|---|',
    ...rows.filter(([, v]) => v !== undefined).map(([k, v]) => `| ${k} | ${v} |`),
  ].join('\n');
  const summary = `${kind} build of ${image}${pool ? ` on pool ${pool}` : ''}${schedule ? ` (golden ${schedule})` : ''}`;
  return { summary, details };
}
