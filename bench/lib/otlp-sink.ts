import { OtlpReceiver } from '../../tests/helpers/otlp-receiver.js';

/**
 * Child process of the `export` bench group: the tests' loopback OTLP receiver (which decodes every
 * request with the official opentelemetry-proto types), alone in its process so that its decoding
 * does not run on the exporter's event loop. It keeps counts, not bodies. IPC: sends
 * `{ type: 'ready', endpoint }`; then `{ type: 'progress', batches, records, requests }` whenever a
 * request arrived (at most every 20 ms); `{ type: 'exit' }` closes it.
 */

const receiver = await OtlpReceiver.start();
let batches = 0;
let records = 0;
let requests = 0;
let refused = 0;

setInterval(() => {
  if (receiver.requests.length === 0) return;
  for (const request of receiver.requests.splice(0)) {
    requests += 1;
    if (request.status >= 300) refused += 1;
    if (request.signal !== 'logs' || request.status >= 300) continue;
    for (const resourceLogs of request.body.resourceLogs ?? [])
      for (const scopeLogs of resourceLogs.scopeLogs ?? [])
        for (const record of scopeLogs.logRecords ?? []) {
          records += 1;
          if (record.eventName === 'wattledger.batch.signed') batches += 1;
        }
  }
  process.send?.({ type: 'progress', batches, records, requests, refused });
}, 20);

process.send?.({ type: 'ready', endpoint: receiver.endpoint });
process.on('message', (message: { type?: string }) => {
  if (message.type === 'exit') void receiver.close().finally(() => process.exit(0));
});
