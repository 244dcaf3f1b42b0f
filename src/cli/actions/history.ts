// `xenimage history`: fetches the event history and prints it as the JSON Temporal's tools read.
import { writeFile } from 'node:fs/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { cliContext, temporalClient } from '../context.js';

export async function printHistory(id: string, opts: { out?: string }): Promise<void> {
  const ctx = cliContext();
  const client = await temporalClient(ctx);
  try {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const text = JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n';
    if (opts.out) await writeFile(opts.out, text);
    else process.stdout.write(text);
  } finally {
    await client.connection.close();
  }
}
