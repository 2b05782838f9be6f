import { MAX_RECENT } from './routes-dashboard.js';

/**
 * The OpenAPI paths of the dashboard routes (docs/DASHBOARD.md), present in `/openapi.json` only
 * on a server that registers them (a daemon, which has a meter). Kept apart so that the ledger
 * API's own document stays as it was.
 */

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const object = (description: string) => ({
  description,
  content: { 'application/json': { schema: { type: 'object' } } },
});
const common = { 400: error('an unknown query parameter (API_BAD_PARAMETER)'), 500: error('API_INTERNAL') };

export function dashboardPaths(): Record<string, unknown> {
  return {
    '/dashboard/': {
      get: {
        operationId: 'getDashboard',
        summary: 'The dashboard page (HTML, served from the package)',
        parameters: [],
        responses: {
          200: { description: 'the page', content: { 'text/html': { schema: { type: 'string' } } } },
          ...common,
        },
      },
    },
    '/dashboard/{file}': {
      get: {
        operationId: 'getDashboardFile',
        summary: 'A dashboard page, style sheet or script',
        parameters: [
          {
            name: 'file',
            in: 'path',
            required: true,
            description: 'index.html, receipt.html, dashboard.css, dashboard.js, receipt.js or meter.js',
            schema: { type: 'string' },
          },
        ],
        responses: {
          200: { description: 'the file', content: { 'text/html': { schema: { type: 'string' } } } },
          404: error('no such file (API_NOT_FOUND)'),
          ...common,
        },
      },
    },
    '/v1/dashboard/live': {
      get: {
        operationId: 'getDashboardLive',
        summary: 'Power and energy of every device now, and the ledger state',
        parameters: [],
        responses: { 200: object('devices and ledger'), ...common },
      },
    },
    '/v1/dashboard/recent': {
      get: {
        operationId: 'getDashboardRecent',
        summary: 'The meters (meterVersion 1) of the latest sealed request records, newest first',
        parameters: [
          {
            name: 'limit',
            in: 'query',
            required: false,
            description: `how many, 1 to ${MAX_RECENT}`,
            schema: { type: 'integer', minimum: 1, maximum: MAX_RECENT, default: 20 },
          },
        ],
        responses: { 200: object('{ meters: [...] }'), ...common },
      },
    },
    '/v1/dashboard/meter/{requestId}': {
      get: {
        operationId: 'getDashboardMeter',
        summary: 'The meter (meterVersion 1) of one sealed request',
        parameters: [
          {
            name: 'requestId',
            in: 'path',
            required: true,
            description: 'the request id',
            schema: { type: 'string' },
          },
        ],
        responses: {
          200: object('the meter'),
          404: error('no sealed record with that id (API_RECORD_NOT_FOUND)'),
          503: error('too many scans run (API_BUSY)'),
          ...common,
        },
      },
    },
  };
}
